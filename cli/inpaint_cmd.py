"""``ktn inpaint``: a teacher's dense pseudo-labels for the annotated persons of a DensePose-COCO json
(docs/other_systems.md, "Teacher inpainting")."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.options import ranged
from ktn_model.inference.defaults import INPAINT_GRID, INPAINT_MIN_PROBABILITY

MAX_GRID = 1024  # a person's labels are grid² cells: 1M at most


def register(app: typer.Typer) -> None:
    """Add ``ktn inpaint`` to the `ktn` app."""
    app.command("inpaint")(inpaint)


WEIGHTS = typer.Option(..., "--weights", help="The teacher: a trained checkpoint (its config.yaml beside it or "
                       "--config-file) of any preset with a DensePose head.")
ANNOTATIONS = typer.Option(..., "--annotations", help="DensePose-COCO json whose DensePose persons (points and "
                           "dp_masks) get pseudo-labels.")
OUT = typer.Option(..., "--out", help="Pseudo-label json to write (must not exist).")
IMAGES = typer.Option(None, "--images", help="Image folder of the json (default: images/ beside it, the layout of "
                      "`ktn data synth`).")
CONFIG_FILE = typer.Option(None, "--config-file", help="Config of the teacher (default: config.yaml beside the "
                           "weights).")
GRID = ranged(INPAINT_GRID, "--grid", low=1, high=MAX_GRID, help=f"Cells per side of each person's box grid (1 to "
              f"{MAX_GRID}).")
MIN_PROBABILITY = ranged(INPAINT_MIN_PROBABILITY, "--min-probability", low=0.0, high=1.0, help="Cells whose teacher "
                         "patch probability (among the 24) is lower stay unlabelled; in [0, 1].")
OPTS = typer.Argument(None, help="Config overrides of the teacher as KEY VALUE pairs.")


@guarded
def inpaint(weights: Path = WEIGHTS, annotations: Path = ANNOTATIONS, out: Path = OUT, images: Path | None = IMAGES,
            config_file: Path | None = CONFIG_FILE, grid: int = GRID, min_probability: float = MIN_PROBABILITY,
            opts: list[str] = OPTS) -> None:  # fmt: skip
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
