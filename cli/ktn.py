"""``ktn``: the DensePose network: synthetic data, training, evaluation, inference, demo."""

from __future__ import annotations

from ktn_cli import (
    convert_cmd,
    data_cmd,
    demo_cmd,
    evaluate_cmd,
    export_cmd,
    infer_cmd,
    inpaint_cmd,
    models_cmd,
    smpl_cmd,
    texture_cmd,
    train_cmd,
)
from ktn_cli.common import make_app

app = make_app("ktn", "KTN DensePose R-CNN (MID + KTM) on torchvision: train, evaluate, infer, make synthetic data.")
app.add_typer(data_cmd.app, name="data")
app.add_typer(texture_cmd.app, name="texture")
app.add_typer(smpl_cmd.app, name="smpl")
train_cmd.register(app)
evaluate_cmd.register(app)
infer_cmd.register(app)
convert_cmd.register(app)
export_cmd.register(app)
demo_cmd.register(app)
models_cmd.register(app)
inpaint_cmd.register(app)


def main() -> None:
    app()
