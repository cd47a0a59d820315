"""``ktn texture ...``: a person's texture from images or video into the DensePose atlas, and back onto persons."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app
from ktn_cli.model_options import CONFIG_FILE, INPUTS_HELP, MIN_SCORE, WEIGHTS
from ktn_cli.options import ranged, threads_option
from ktn_model.surface.atlas import DEFAULT_TILE

app = make_app("ktn", "DensePose texture atlas: extract from images or video, paint onto persons.")


def _tile_limit() -> tuple[int, str]:
    from ktn_model.surface.texture import max_tile_size
    from ktn_utils.machine import GIB, available_memory

    return max_tile_size(), f"the largest atlas that fits the {available_memory() / GIB:.1f} GiB of memory available"


INPUTS = typer.Argument(..., help=INPUTS_HELP)
ATLAS_OUT = typer.Option(..., "--out", help="Atlas PNG to write; the coverage mask goes beside it.")
TILE_SIZE = ranged(DEFAULT_TILE, "--tile-size", low=2, high=_tile_limit,
                   help="Texels per tile side (atlas 4N x 6N), at least 2; at most what the memory holds.")
PERSON = ranged(None, "--person", low=1, help="Instance k (from 1) of each image (default: the largest).")
FILL = typer.Option(False, "--fill", help="Fill unseen texels by diffusion inside each tile.")
ATLAS = typer.Argument(..., help="Texture atlas PNG (4N x 6N; an alpha channel is the texel opacity).")
PAINTED_OUT = typer.Option(..., "--out", help="Output folder: NAME_texture.png per image or video frame.")
ALPHA = ranged(1.0, "--alpha", low=0.0, high=1.0, help="Blend, in [0, 1]: 1 = texture only, 0 = image only.")
COVERAGE = typer.Option(None, "--coverage", help="Coverage mask of the atlas (from `extract`): unseen texels stay "
                        "transparent.")

THREADS = threads_option()

@app.command("extract")
@guarded
def extract(inputs: list[str] = INPUTS, weights: Path = WEIGHTS, out: Path = ATLAS_OUT,
            config_file: Path | None = CONFIG_FILE, min_score: float = MIN_SCORE, tile_size: int = TILE_SIZE,
            person: int | None = PERSON, fill: bool = FILL, threads: int | None = THREADS) -> None:  # fmt: skip
    """Average the colours of one person over all inputs into a DensePose texture atlas."""
    from ktn_model.api import extract_texture
    from ktn_model.threads import torch_threads

    with torch_threads(threads):
        done = extract_texture(inputs, weights, out, config_file, min_score, tile_size, person, fill)
    typer.echo(f"{done.pixels} pixels from {done.images} image(s); {done.seen:.1%} of the atlas seen: {done.atlas}, "
               f"{done.coverage}")  # fmt: skip


@app.command("apply")
@guarded
def apply(atlas: Path = ATLAS, inputs: list[str] = INPUTS, weights: Path = WEIGHTS, out: Path = PAINTED_OUT,
          config_file: Path | None = CONFIG_FILE, min_score: float = MIN_SCORE, alpha: float = ALPHA,
          coverage: Path | None = COVERAGE, threads: int | None = THREADS) -> None:  # fmt: skip
    """Paint a texture atlas onto every detected person (bilinear look-up in each tile)."""
    from ktn_model.api import apply_texture
    from ktn_model.threads import torch_threads

    with torch_threads(threads):
        count = apply_texture(atlas, inputs, weights, out, config_file, min_score, alpha, coverage)
    typer.echo(f"{count} image(s) painted: {out}/")
