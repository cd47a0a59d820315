"""``ktn data ...``: dataset utilities (synthetic DensePose-COCO generation)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app
from ktn_cli.options import ranged
from ktn_cli.sizes import MIN_IMAGE_SIZE, synth_image_limit

app = make_app("ktn", "Dataset utilities: synthetic DensePose-COCO generation.")

OUT = typer.Option(..., "--out", help="Output directory (created if missing).")
IMAGES = ranged(200, "--images", low=1, help="Number of images to generate (>= 1).")
SEED = ranged(0, "--seed", low=0, help="Random seed, >= 0; the same seed gives byte-identical files.")
SIZE = ranged(320, "--size", low=MIN_IMAGE_SIZE, high=synth_image_limit, help=f"Longer image side in pixels "
              f"(>= {MIN_IMAGE_SIZE}; at most what the memory holds).")


@app.command("synth")
@guarded
def synth(out: Path = OUT, images: int = IMAGES, seed: int = SEED, size: int = SIZE) -> None:
    """Write a synthetic DensePose-COCO set: images, annotations.json, eval_data/, UV symmetry tables."""
    from ktn_model.data.synthetic import generate  # heavy imports only when the command runs
    from ktn_utils.atomic import check_output_folder

    check_output_folder(out)
    json_path = generate(out, images, seed, image_size=size)
    typer.echo(f"wrote {images} images and {json_path} (eval data in {out / 'eval_data'})")
