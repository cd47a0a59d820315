import pytest
from torch import nn

from ktn_model.config import get_cfg
from ktn_model.engine.solver import build_lr_scheduler, build_optimizer


def _cfg(**solver):
    cfg = get_cfg()
    for key, value in solver.items():
        cfg.SOLVER[key] = value
    return cfg


def _lrs(cfg, n):
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_then_multistep_schedule_exact_values():
    cfg = _cfg(BASE_LR=0.1, WARMUP_ITERS=4, WARMUP_FACTOR=0.2, STEPS=[6, 8], GAMMA=0.5)
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert _lrs(cfg, 10) == pytest.approx(expected, rel=1e-12)


def test_schedule_resumes_from_its_state_dict():
    cfg = _cfg(BASE_LR=0.1, WARMUP_ITERS=4, WARMUP_FACTOR=0.2, STEPS=[6, 8], GAMMA=0.5)
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt)
    for _ in range(7):
        opt.step()
        sched.step()
    opt2 = build_optimizer(cfg, nn.Linear(2, 2))
    sched2 = build_lr_scheduler(cfg, opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05)
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.025)


def test_unsorted_steps_are_rejected():
    with pytest.raises(ValueError, match="STEPS"):
        _lrs(_cfg(STEPS=[10, 5]), 1)


def test_norm_parameters_get_their_own_weight_decay():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.BatchNorm2d(4), nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)
    cfg = _cfg(WEIGHT_DECAY=1e-4, WEIGHT_DECAY_NORM=0.0, MOMENTUM=0.9, BASE_LR=0.01)
    opt = build_optimizer(cfg, model)
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    norm_ids = {id(p) for m in (model[1], model[2]) for p in m.parameters()}
    other_ids = {id(model[0].weight), id(model[3].weight), id(model[3].bias)}
    assert by_decay == {1e-4: other_ids, 0.0: norm_ids}
    assert all(g["momentum"] == 0.9 and g["lr"] == 0.01 for g in opt.param_groups)
