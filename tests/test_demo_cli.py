"""``ktn demo``: a miniature run end to end, and (slow) the real one against its promises."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import ktn_kg
from ktn_cli.ktn import app
from ktn_model.engine.demo import DEFAULT_GRAPH, DemoSettings, ensure_graph, run_demo


def test_a_miniature_demo_trains_evaluates_and_draws(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--iterations", "2", "--train-images", "4", "--val-images", "2",
            "--image-size", "96"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    for word in ("untrained", "trained", "GPS AP", "GPSm AP", str(out / "pictures")):
        assert word in res.output
    assert (out / "train" / "model_final.pth").is_file() and (out / "train" / "metrics.jsonl").is_file()
    names = {p.name for p in (out / "pictures").iterdir()}
    assert "results.json" in names
    for stem in ("000000", "000001"):
        size = Image.open(out / "data" / "val" / "images" / f"{stem}.png").size
        for kind in ("IUV", "INDS", "dp_contour", "dp_segm", "dp_u", "dp_v", "bbox"):
            assert Image.open(out / "pictures" / f"{stem}_{kind}.png").size == size


def test_a_missing_graph_is_built_offline_like_the_committed_one(tmp_path):
    built = ktn_kg.load_graph(ensure_graph(tmp_path / "v2.pkl"))
    committed = ktn_kg.load_graph(DEFAULT_GRAPH)
    for task in ("kpt", "part", "person"):
        # float32 sentence embeddings: the last bits depend on the number of torch threads
        np.testing.assert_allclose(built.matrix(task), committed.matrix(task), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_the_real_demo_is_fast_and_learns(tmp_path):
    report = run_demo(DemoSettings(out=tmp_path / "demo"))
    untrained, trained = report.untrained["densepose_gps"]["AP"], report.trained["densepose_gps"]["AP"]
    assert trained >= untrained + 5.0, (untrained, trained)
    assert sum(report.seconds.values()) < 600, report.seconds
