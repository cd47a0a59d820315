"""``ktn data ...``: dataset utilities (synthetic DensePose-COCO generation)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app

app = make_app("ktn", "Dataset utilities: synthetic DensePose-COCO generation.")


@app.command("synth")
@guarded
def synth(
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing)."),
    images: int = typer.Option(200, "--images", help="Number of images to generate (>= 1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files."),
    size: int = typer.Option(320, "--size", help="Longer image side in pixels (>= 64)."),
) -> None:
    """Write a synthetic DensePose-COCO set: images, annotations.json, eval_data/, UV symmetry tables."""
    from ktn_model.data.synthetic import generate  # heavy imports only when the command runs

    if seed < 0:
        raise ValueError(f"--seed {seed}: must be a non-negative integer (numpy seeds are >= 0)")

    json_path = generate(out, images, seed, image_size=size)
    typer.echo(f"wrote {images} images and {json_path} (eval data in {out / 'eval_data'})")
