"""``ktn texture ...``: a person's texture from images or video into the DensePose atlas, and back onto persons.

``predict_iuv`` is the one place where these commands (and ``ktn smpl``) call the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer
from PIL import Image

from ktn_cli.common import guarded, make_app
from ktn_model.surface.atlas import DEFAULT_TILE
from ktn_utils.atomic import atomic_write

app = make_app("ktn", "DensePose texture atlas: extract from images or video, paint onto persons.")

INPUTS_HELP = "Image files, folders, glob patterns or video files."
WEIGHTS_HELP = "Checkpoint (model_final.pth or any model_*.pth)."
CONFIG_HELP = "Config the model was trained with (default: config.yaml beside the weights)."
MIN_SCORE_HELP = "Keep detections with at least this score."


def _video_frames(path: Path, cv2) -> Iterator[tuple[str, np.ndarray]]:
    """(``<stem>_<frame:06d>``, (H, W, 3) uint8 RGB) for every frame of a video."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: not a readable video")
    try:
        index = 0
        while (frame := capture.read())[0]:
            yield f"{path.stem}_{index:06d}", cv2.cvtColor(frame[1], cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{path}: the video has no readable frames")


def predict_iuv(inputs: list[str], weights: Path, config_file: Path | None,
                min_score: float) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """(name, image (H, W, 3) uint8, iuv (H, W, 3) uint8 [I, U*255, V*255], inds (H, W)) per image or frame.

    The inputs are checked and the model loaded before the first item is produced.
    """
    from ktn_model.data.dataset import read_rgb
    from ktn_model.engine import outputs
    from ktn_model.engine.predictor import Predictor
    from ktn_model.engine.video import _cv2

    paths = outputs.collect_inputs(inputs)
    is_video = [p.suffix.lower() in outputs.VIDEO_SUFFIXES for p in paths]
    cv2 = _cv2() if any(is_video) else None
    predictor = Predictor.from_checkpoint(weights, config_file, min_score=min_score)

    def items() -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        for path, video in zip(paths, is_video, strict=True):
            for name, image in _video_frames(path, cv2) if video else [(path.stem, read_rgb(path))]:
                yield name, image, *outputs.paste_iuv(predictor(image), *image.shape[:2])

    return items()


def coverage_path_of(atlas: Path) -> Path:
    """``atlas.png`` -> ``atlas_coverage.png``."""
    return atlas.with_name(f"{atlas.stem}_coverage.png")


def _save_png(path: Path, pixels: np.ndarray) -> None:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG, atomically."""
    atomic_write(path, lambda f: Image.fromarray(pixels).save(f, format="PNG"))


@app.command("extract")
@guarded
def extract(
    inputs: list[str] = typer.Argument(..., help=INPUTS_HELP),
    weights: Path = typer.Option(..., "--weights", help=WEIGHTS_HELP),
    out: Path = typer.Option(..., "--out", help="Atlas PNG to write; the coverage mask goes beside it."),
    config_file: Path | None = typer.Option(None, "--config-file", help=CONFIG_HELP),
    min_score: float = typer.Option(0.8, "--min-score", help=MIN_SCORE_HELP),
    tile_size: int = typer.Option(DEFAULT_TILE, "--tile-size", min=2, help="Texels per tile side (atlas 4N x 6N)."),
    person: int | None = typer.Option(None, "--person", min=1, help="Instance k of each image (default: largest)."),
    fill: bool = typer.Option(False, "--fill", help="Fill unseen texels by diffusion inside each tile."),
) -> None:
    """Average the colours of one person over all inputs into a DensePose texture atlas."""
    from ktn_model.surface.texture import TextureAccumulator, fill_holes, person_mask, to_uint8

    accumulator = TextureAccumulator(tile_size)
    frames = pixels = 0
    for _, image, iuv, inds in predict_iuv(inputs, weights, config_file, min_score):
        added = accumulator.add(image, iuv, person_mask(inds, person))
        frames, pixels = frames + (added > 0), pixels + added
    if pixels == 0:
        raise ValueError("no person pixels found in the inputs (try a lower --min-score or another --person)")
    coverage = accumulator.coverage()
    atlas = fill_holes(accumulator.atlas(), coverage) if fill else accumulator.atlas()
    coverage_path = coverage_path_of(out)
    _save_png(out, to_uint8(atlas))
    _save_png(coverage_path, coverage.astype(np.uint8) * 255)
    typer.echo(f"{pixels} pixels from {frames} image(s); {coverage.mean():.1%} of the atlas seen: {out}, "
               f"{coverage_path}")  # fmt: skip


@app.command("apply")
@guarded
def apply(
    atlas: Path = typer.Argument(..., help="Texture atlas PNG (4N x 6N; an alpha channel is the texel opacity)."),
    inputs: list[str] = typer.Argument(..., help=INPUTS_HELP),
    weights: Path = typer.Option(..., "--weights", help=WEIGHTS_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder: NAME_texture.png per image or video frame."),
    config_file: Path | None = typer.Option(None, "--config-file", help=CONFIG_HELP),
    min_score: float = typer.Option(0.8, "--min-score", help=MIN_SCORE_HELP),
    alpha: float = typer.Option(1.0, "--alpha", min=0.0, max=1.0, help="Blend: 1 = texture only, 0 = image only."),
    coverage: Path | None = typer.Option(
        None, "--coverage", help="Coverage mask of the atlas (from `extract`): unseen texels stay transparent."
    ),
) -> None:
    """Paint a texture atlas onto every detected person (bilinear look-up in each tile)."""
    from ktn_model.surface.atlas import load_atlas, load_coverage
    from ktn_model.surface.texture import paint

    pixels, opacity = load_atlas(atlas)
    if coverage is not None:
        seen = load_coverage(coverage, pixels.shape[:2])
        opacity = seen if opacity is None else opacity * seen
    count = 0
    for name, image, iuv, _ in predict_iuv(inputs, weights, config_file, min_score):
        _save_png(out / f"{name}_texture.png", paint(image, iuv, pixels, opacity=opacity, alpha=alpha))
        count += 1
    typer.echo(f"{count} image(s) painted: {out}/")
