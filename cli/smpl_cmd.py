"""``ktn smpl ...``: person pixels -> points of the SMPL surface, through DensePose's UV_Processed.mat."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app
from ktn_cli.model_options import CONFIG_FILE, INPUTS_HELP, MIN_SCORE, WEIGHTS
from ktn_cli.options import threads_option

app = make_app("ktn", "SMPL correspondences of DensePose predictions.")

INPUTS = typer.Argument(..., help=INPUTS_HELP)
UV_DATA = typer.Option(..., "--uv-data", help="UV_Processed.mat of the DensePose release (UV_data).")
OUT = typer.Option(..., "--out", help="Output folder: NAME_smpl.npz per image or video frame.")
SMPL_MODEL = typer.Option(None, "--smpl-model", help="SMPL model .pkl/.npz (v_template, f): adds 3D template points "
                          "and SMPL faces.")

THREADS = threads_option()

@app.command("correspond")
@guarded
def correspond(inputs: list[str] = INPUTS, weights: Path = WEIGHTS, uv_data: Path = UV_DATA, out: Path = OUT,
               smpl_model: Path | None = SMPL_MODEL, config_file: Path | None = CONFIG_FILE,
               min_score: float = MIN_SCORE, threads: int | None = THREADS) -> None:  # fmt: skip
    """Write, per image, the UV-mesh face, barycentrics and nearest SMPL vertex of every person pixel."""
    from ktn_model.api import correspond_smpl
    from ktn_model.threads import torch_threads

    with torch_threads(threads):
        count, pixels = correspond_smpl(inputs, weights, uv_data, out, smpl_model, config_file, min_score)
    typer.echo(f"{pixels} person pixels in {count} image(s): {out}/")
