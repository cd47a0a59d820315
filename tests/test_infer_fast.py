"""Fast ``ktn infer``: images read ahead in a background thread, batches, the images/s progress bar."""

import io
import json
import logging
import threading

import numpy as np
from PIL import Image
from rich.console import Console

from ktn_model.data.dataset import ImageReadError
from ktn_model.inference import inputs
from ktn_model.inference.inputs import read_ahead
from ktn_model.inference.pipeline import Predictor
from ktn_model.inference.writer import InferenceRun, run
from ktn_utils.progress import ImageProgress

NAMES = ["a.png", "b.png", "bad.png", "c.png", "d.png", "e.png"]


def _inputs(folder, size=(240, 320)):
    """NAMES in ``folder``: random RGB images of ``size``, except bad.png, which is not an image."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in NAMES:
        if name == "bad.png":
            (folder / name).write_bytes(b"not a png")
        else:
            Image.fromarray(rng.integers(0, 255, (*size, 3), np.uint8)).save(folder / name)
    return [folder / n for n in NAMES]


def test_read_ahead_keeps_order_reads_in_one_background_thread_at_most_depth_ahead(tmp_path, monkeypatch):
    paths = _inputs(tmp_path / "in", (8, 8))
    consumed, reads = [0], []
    real = inputs.read_rgb

    def spy(path):
        reads.append((path.name, threading.current_thread().name, consumed[0]))
        return real(path)

    monkeypatch.setattr(inputs, "read_rgb", spy)
    got = []
    for pixels in read_ahead(paths, depth=2):
        got.append(pixels)
        consumed[0] += 1
    assert [r[0] for r in reads] == NAMES
    assert len({r[1] for r in reads}) == 1 and reads[0][1] != threading.current_thread().name
    assert all(k - at <= 2 for k, (_, _, at) in enumerate(reads))  # never more than 2 images ahead
    assert isinstance(got[2], ImageReadError) and str(got[2]).startswith(f"{paths[2]}: not a readable image")
    assert [g.shape for k, g in enumerate(got) if k != 2] == [(8, 8, 3)] * 5


def test_batches_skip_the_unreadable_file_with_one_warning_and_match_single_images(tmp_path, trained, caplog):
    _, model, cfg = trained
    paths = _inputs(tmp_path / "in")
    predictor = Predictor(cfg, model, min_score=0.0)
    batches = []
    real = predictor.predict

    def spy(images, render_sizes=None):
        batches.append(len(images))
        return real(images, render_sizes)

    predictor.predict = spy
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with caplog.at_level(logging.WARNING):
        run(InferenceRun(predictor, tmp_path / "out"), paths, batch_size=2, progress=ImageProgress(6, console))
    assert batches == [2, 2, 1]
    assert [r.getMessage() for r in caplog.records] == [f"skipped {paths[2]}: not a readable image "
                                                        f"(cannot identify image file '{paths[2]}')"]
    bar = console.file.getvalue()
    assert "6/6" in bar and "images/s" in bar
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted({r["image_id"] for r in results}) == [1, 2, 4, 5, 6]
    pixels = [np.asarray(Image.open(p)) for p in paths[:2]]
    for together, alone in zip(real(pixels), [real([p])[0] for p in pixels], strict=True):
        assert len(together["scores"]) == len(alone["scores"]) == 20
        np.testing.assert_allclose(together["boxes"], alone["boxes"], rtol=0, atol=1e-3)
        np.testing.assert_allclose(together["scores"], alone["scores"], rtol=0, atol=1e-4)
