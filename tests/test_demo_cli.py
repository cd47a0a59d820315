"""``ktn demo``: a miniature run end to end, and (slow) the real one against its promises."""

import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.demo.workflow import DEFAULT_GRAPH, PICTURE_LONG_SIDE, DemoSettings, run_demo
from ktn_model.vis.pictures import LEGEND_WIDTH


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
        width, height = Image.open(out / "data" / "val" / "images" / f"{stem}.png").size
        factor = -(-PICTURE_LONG_SIDE // max(width, height))  # 6 for 96 px images: 576 px
        for kind in ("IUV", "INDS"):
            assert Image.open(out / "pictures" / f"{stem}_{kind}.png").size == (width, height)
        for kind in ("dp_contour", "dp_u", "dp_v", "bbox"):
            assert Image.open(out / "pictures" / f"{stem}_{kind}.png").size == (factor * width, factor * height)
        legend = Image.open(out / "pictures" / f"{stem}_dp_segm.png").size
        assert legend == (factor * width + LEGEND_WIDTH, factor * height)


def test_demo_help_shows_every_default():
    res = CliRunner().invoke(app, ["demo", "--help"])
    assert res.exit_code == 0
    # rich wraps the help column: each option's text runs until the next option's line
    blocks = re.split(r"│ (?=--)", res.output)
    text = {block.split()[0]: " ".join(block.split()) for block in blocks[1:]}
    defaults = DemoSettings()
    for option, value in [("--iterations", defaults.iterations), ("--train-images", defaults.train_images),
                          ("--val-images", defaults.val_images), ("--image-size", defaults.image_size),
                          ("--seed", defaults.seed), ("--threads", defaults.threads), ("--out", defaults.out)]:
        assert f"[default: {value}]" in text[option], text[option]


@pytest.mark.slow
def test_the_real_demo_is_fast_and_learns(tmp_path):
    report = run_demo(DemoSettings(out=tmp_path / "demo"))
    untrained, trained = report.untrained["densepose_gps"]["AP"], report.trained["densepose_gps"]["AP"]
    assert trained >= untrained + 5.0, (untrained, trained)
    assert sum(report.seconds.values()) < 600, report.seconds


def test_the_demo_is_its_preset_plus_the_paths_of_its_data(tmp_path):
    from ktn_model.config import setup_cfg
    from ktn_model.demo.workflow import demo_cfg

    train, val = tmp_path / "train", tmp_path / "val"
    cfg = demo_cfg(DemoSettings(out=tmp_path), DEFAULT_GRAPH, train, val)
    preset = setup_cfg("ktn_demo_cpu")
    assert cfg.INPUT.MIN_SIZE_TRAIN == preset.INPUT.MIN_SIZE_TRAIN == [144, 192]
    assert cfg.SOLVER == preset.SOLVER and cfg.MODEL.BACKBONE == preset.MODEL.BACKBONE
    assert cfg.DATASETS.TEST == [f"{val}/annotations.json:{val}/images"] and cfg.OUTPUT_DIR == str(tmp_path / "train")
