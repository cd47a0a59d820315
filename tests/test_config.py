import pytest

from ktn_model.config import get_cfg, setup_cfg


def test_defaults_follow_the_released_r50_ktnv2_settings():
    cfg = get_cfg()
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN == 1000
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.FG_IOU_THRESHOLD == 0.65
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.KT_LEAKY_SLOPE == 0.02
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.STEPS, cfg.SOLVER.MAX_ITER) == (0.01, [100000, 120000], 130000)


def test_base_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.02\n  MAX_ITER: 10\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 20\n")
    cfg = setup_cfg(tmp_path / "child.yaml", ["SOLVER.MAX_ITER", "30", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "v1"])
    assert cfg.SOLVER.BASE_LR == 0.02
    assert cfg.SOLVER.MAX_ITER == 30
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.KTM == "v1"
    assert cfg.is_frozen()


def test_bad_config_inputs_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        setup_cfg(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        setup_cfg(None, ["SOLVER.MAX_ITER"])
    with pytest.raises(KeyError):
        setup_cfg(None, ["SOLVER.NO_SUCH_KEY", "1"])
