"""``ktn data ...``: dataset utilities (owned by the data/synthetic work; being written)."""

import typer

app = typer.Typer(help="Dataset utilities: synthetic DensePose-COCO generation.", no_args_is_help=True)
