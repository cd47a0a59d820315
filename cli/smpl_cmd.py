"""``ktn smpl ...``: person pixels -> points of the SMPL surface, through DensePose's UV_Processed.mat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ktn_cli import texture_cmd
from ktn_cli.common import guarded, make_app
from ktn_utils.atomic import atomic_write

app = make_app("ktn", "SMPL correspondences of DensePose predictions.")


@app.command("correspond")
@guarded
def correspond(
    inputs: list[str] = typer.Argument(..., help=texture_cmd.INPUTS_HELP),
    weights: Path = typer.Option(..., "--weights", help=texture_cmd.WEIGHTS_HELP),
    uv_data: Path = typer.Option(..., "--uv-data", help="UV_Processed.mat of the DensePose release (UV_data)."),
    out: Path = typer.Option(..., "--out", help="Output folder: NAME_smpl.npz per image or video frame."),
    smpl_model: Path | None = typer.Option(
        None, "--smpl-model", help="SMPL model .pkl/.npz (v_template, f): adds 3D template points and SMPL faces."
    ),
    config_file: Path | None = typer.Option(None, "--config-file", help=texture_cmd.CONFIG_HELP),
    min_score: float = typer.Option(0.8, "--min-score", help=texture_cmd.MIN_SCORE_HELP),
) -> None:
    """Write, per image, the UV-mesh face, barycentrics and nearest SMPL vertex of every person pixel."""
    from ktn_model.surface.correspond import SurfaceLocator
    from ktn_model.surface.smpl import check_fits, load_smpl_template
    from ktn_model.surface.smpl_pixels import pixel_correspondences
    from ktn_model.surface.uv_mesh import load_uv_data

    mesh = load_uv_data(uv_data)
    template = load_smpl_template(smpl_model) if smpl_model else None
    if template is not None:
        check_fits(mesh, template, smpl_model)
    locator = SurfaceLocator(mesh)
    count = pixels = 0
    for name, _, iuv, inds in texture_cmd.predict_iuv(inputs, weights, config_file, min_score):
        arrays = pixel_correspondences(locator, iuv, inds, template)
        atomic_write(out / f"{name}_smpl.npz", lambda f, a=arrays: np.savez_compressed(f, **a))
        count, pixels = count + 1, pixels + len(arrays["y"])
    typer.echo(f"{pixels} person pixels in {count} image(s): {out}/")
