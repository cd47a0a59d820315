"""``ktn inpaint``: a teacher's dense pseudo-labels for the annotated persons of a DensePose-COCO json
(docs/other_systems.md, "Teacher inpainting")."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded

# Kept in step with ktn_model.engine.inpaint (a test compares them); not imported here so that `--help` does not
# load torch.
DEFAULT_GRID = 64
DEFAULT_MIN_PROBABILITY = 0.5


def register(app: typer.Typer) -> None:
    """Add ``ktn inpaint`` to the `ktn` app."""
    app.command("inpaint")(inpaint)


@guarded
def inpaint(
    weights: Path = typer.Option(..., "--weights", help="The teacher: a trained checkpoint (its config.yaml beside it "
                                 "or --config-file) of any preset with a DensePose head."),
    annotations: Path = typer.Option(..., "--annotations", help="DensePose-COCO json whose DensePose persons "
                                     "(points and dp_masks) get pseudo-labels."),
    out: Path = typer.Option(..., "--out", help="Pseudo-label json to write (must not exist)."),
    images: Path | None = typer.Option(None, "--images", help="Image folder of the json (default: images/ beside "
                                       "it, the layout of `ktn data synth`)."),
    config_file: Path | None = typer.Option(None, "--config-file", help="Config of the teacher (default: "
                                            "config.yaml beside the weights)."),
    grid: int = typer.Option(DEFAULT_GRID, "--grid", help="Cells per side of each person's box grid."),
    min_probability: float = typer.Option(DEFAULT_MIN_PROBABILITY, "--min-probability", help="Cells whose teacher "
                                          "patch probability (among the 24) is lower stay unlabelled."),
    opts: list[str] = typer.Argument(None, help="Config overrides of the teacher as KEY VALUE pairs."),
) -> None:
    """Run the teacher on every image with the annotated persons' boxes as RoIs and write, per person, a grid of
    [I, U, V] labels inside the person mask: the teacher's argmax patch and its U, V, and the annotation at every
    annotated point. A student trains on them with DATASETS.TRAIN_PSEUDO_LABELS (one file per training set) and
    MODEL.ROI_DENSEPOSE_HEAD.PSEUDO_LABEL_WEIGHT. The file records the teacher's sha256 and the thresholds.
    """
    from ktn_model.engine.inpaint import inpaint as run_inpaint

    images = images if images is not None else annotations.parent / "images"
    summary = run_inpaint(weights, annotations, images, out, config_file, opts, grid, min_probability)
    typer.echo(f"wrote {summary.out}: {summary.persons} persons in {summary.images} images; "
               f"the teacher labelled {100 * summary.labelled:.1f} % of the in-mask cells without an annotated point")
