"""Trainer mechanics on a stand-in model with the real model's training interface."""

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torchrun_nodes import run_two_nodes

from ktn_model.config import get_cfg, setup_cfg
from ktn_model.engine import distributed as comm
from ktn_model.engine.trainer import NonFiniteLossError, Trainer
from ktn_model.modeling.weights import load_checkpoint
from ktn_model.rng import seed_all

NUM_SAMPLES = 12


class TinyDetector(nn.Module):
    """``model(images, targets) -> {"loss_a", "loss_b"}``, with dropout so that RNG state matters."""

    def __init__(self, dropout: float = 0.5, nan_at: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.head = nn.Linear(4, 2)
        self.drop = nn.Dropout(dropout)
        self.nan_at, self.calls = nan_at, 0

    def forward(self, images, targets):
        self.calls += 1
        features = self.norm(self.conv(torch.stack(images))).relu().mean((2, 3))
        out = self.head(self.drop(features))
        y = torch.stack([t["y"] for t in targets])
        loss_b = (out[:, 1] ** 2).mean()
        if self.calls == self.nan_at:
            loss_b = loss_b * float("nan")
        return {"loss_a": ((out[:, 0] - y) ** 2).mean(), "loss_b": loss_b}


def _samples():
    gen = torch.Generator().manual_seed(123)
    return [(torch.rand(3, 8, 8, generator=gen), {"y": torch.rand((), generator=gen)}) for _ in range(NUM_SAMPLES)]


def loader_fn(batch_size, noise=0.01, rank=0, world_size=1, stop_at=None):
    """Deterministic infinite shuffled batches (this worker's share), starting at ``start_iter``.

    Per-batch noise is drawn from the global torch RNG, like data augmentation in the main process.
    ``stop_at`` simulates the process being killed when that batch is requested.
    """
    samples = _samples()

    def make(start_iter):
        def batches():
            it, epoch = 0, 0
            while True:
                order = torch.randperm(NUM_SAMPLES, generator=torch.Generator().manual_seed(epoch)).tolist()
                for i in range(0, NUM_SAMPLES - batch_size * world_size + 1, batch_size * world_size):
                    if it == stop_at:
                        raise KeyboardInterrupt
                    if it >= start_iter:
                        picked = [samples[j] for j in order[i + rank * batch_size : i + (rank + 1) * batch_size]]
                        yield ([img + noise * torch.randn_like(img) for img, _ in picked], [t for _, t in picked])
                    it += 1
                epoch += 1

        return batches()

    return make


def _cfg(out, **solver):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(out)
    settings = dict(BASE_LR=0.1, MAX_ITER=8, STEPS=[6], WARMUP_ITERS=2, CHECKPOINT_PERIOD=4, LOG_PERIOD=1)
    for key, value in {**settings, **solver}.items():
        cfg.SOLVER[key] = value
    return cfg


def _trainer(cfg, loader, evaluate_fn=None, **model_kwargs):
    seed_all(cfg.SEED)
    return Trainer(cfg, TinyDetector(**model_kwargs), loader, evaluate_fn)


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_killed_and_resumed_run_reaches_the_same_weights(tmp_path):
    straight = _trainer(_cfg(tmp_path / "a"), loader_fn(2))
    straight.train()

    killed = _trainer(_cfg(tmp_path / "b"), loader_fn(2, stop_at=6))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert killed.iteration == 6

    resumed = _trainer(_cfg(tmp_path / "b"), loader_fn(2))
    assert resumed.resume() == tmp_path / "b" / "model_0000004.pth"
    assert resumed.iteration == 4
    resumed.train()
    expected, got = _weights(straight), _weights(resumed)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]


def test_nan_loss_stops_naming_term_and_iteration_and_keeps_last_good_checkpoint(tmp_path):
    trainer = _trainer(_cfg(tmp_path, CHECKPOINT_PERIOD=2, MAX_ITER=10), loader_fn(2), nan_at=5)
    with pytest.raises(NonFiniteLossError, match=r"loss_b is nan at iteration 5; .*model_0000004\.pth"):
        trainer.train()
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["model_0000002.pth", "model_0000004.pth"]
    state = load_checkpoint(tmp_path / "model_0000004.pth")
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_metrics_config_and_tensorboard_are_written(tmp_path):
    cfg = _cfg(tmp_path)
    _trainer(cfg, loader_fn(2)).train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, 9))
    assert {"loss_a", "loss_b", "total_loss", "lr", "its_per_s"} <= set(records[0])
    assert records[0]["total_loss"] == pytest.approx(records[0]["loss_a"] + records[0]["loss_b"])
    assert [r["lr"] for r in records[:3]] == pytest.approx([0.01, 0.055, 0.1])  # the lr each step used
    assert setup_cfg(tmp_path / "config.yaml") == cfg
    assert list(tmp_path.glob("events.out.tfevents.*"))
    _trainer(_cfg(tmp_path / "p4", LOG_PERIOD=4), loader_fn(2)).train()
    averaged = [json.loads(line) for line in (tmp_path / "p4" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in averaged] == [4, 8]
    for record, window in zip(averaged, (records[:4], records[4:]), strict=True):
        assert record["loss_a"] == pytest.approx(sum(r["loss_a"] for r in window) / 4)


def test_periodic_evaluation_does_not_disturb_training(tmp_path):
    seen = []

    def evaluate(model):
        assert not model.training
        seen.append(torch.rand(()).item())  # consumes random numbers on purpose
        return {"densepose_gps": {"AP": float(len(seen))}}

    with_eval = _trainer(_cfg(tmp_path / "e", MAX_ITER=8), loader_fn(2), evaluate)
    with_eval.cfg.TEST.EVAL_PERIOD = 3
    assert with_eval.train() == {"densepose_gps": {"AP": 3.0}}
    assert len(seen) == 3  # after iterations 3 and 6, and at the end
    without = _trainer(_cfg(tmp_path / "n", MAX_ITER=8), loader_fn(2))
    without.train()
    assert all(torch.equal(a, b) for a, b in zip(_weights(with_eval).values(), _weights(without).values(), strict=True))
    records = [json.loads(x) for x in (tmp_path / "e" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["iteration"], r["densepose_gps/AP"]) for r in records if "densepose_gps/AP" in r] == [
        (3, 1.0),
        (6, 2.0),
        (8, 3.0),
    ]


def test_gradient_clipping_bounds_each_parameter_update(tmp_path):
    cfg = _cfg(tmp_path, MAX_ITER=1, WARMUP_ITERS=0, WEIGHT_DECAY=0.0, BASE_LR=1.0)
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1e-3
    trainer = _trainer(cfg, loader_fn(4), dropout=0.0)
    before = _weights(trainer)
    trainer.train()
    steps = {k: (v - before[k]).norm().item() for k, v in _weights(trainer).items()}
    assert max(steps.values()) == pytest.approx(1e-3, rel=1e-4)
    assert all(s <= 1e-3 * (1 + 1e-4) for s in steps.values())


def _ddp_worker(cfg, per_rank_batch, weights_dir=None):
    seed_all(cfg.SEED)
    trainer = Trainer(cfg, TinyDetector(dropout=0.0), loader_fn(per_rank_batch, 0.0, comm.get_rank(), 2))
    trainer.train()
    if weights_dir is not None:  # this rank's final weights and where torchrun placed it
        where = {k: os.environ[k] for k in ("RANK", "GROUP_RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")}
        torch.save({"weights": _weights(trainer), "env": where}, Path(weights_dir) / f"rank{comm.get_rank()}.pt")


def test_two_process_ddp_with_gloo_matches_one_process_with_the_global_batch(tmp_path):
    cfg = _cfg(tmp_path / "ddp")
    comm.launch(_ddp_worker, 2, "cpu", cfg, 1)
    single = _trainer(_cfg(tmp_path / "one"), loader_fn(2, 0.0), dropout=0.0)
    single.train()
    state = load_checkpoint(tmp_path / "ddp" / "model_final.pth")
    assert state["iteration"] == 8 and len(state["rng"]) == 2
    expected = _weights(single)
    for name, value in state["model"].items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6)


# What each torchrun worker runs: the DDP worker above through comm.launch, as ``ktn train`` does under torchrun
# (argv: this folder, the output folder).
TORCHRUN_WORKER = """import sys
sys.path.insert(0, sys.argv[1])
from test_engine_trainer import _cfg, _ddp_worker
from ktn_model.engine import distributed as comm
comm.launch(_ddp_worker, 2, "cpu", _cfg(sys.argv[2]), 1, sys.argv[2])
"""


def test_two_torchrun_nodes_train_the_weights_of_one_process_with_the_global_batch(tmp_path):
    """``torchrun --nnodes 2`` (tests/torchrun_nodes.py): both ranks end with the weights of one process with the
    global batch."""
    (tmp_path / "worker.py").write_text(TORCHRUN_WORKER)
    (tmp_path / "ddp").mkdir()
    target = [str(tmp_path / "worker.py"), str(Path(__file__).parent), str(tmp_path / "ddp")]
    codes, output = run_two_nodes(target, tmp_path)
    assert codes == [0, 0], output
    single = _trainer(_cfg(tmp_path / "one"), loader_fn(2, 0.0), dropout=0.0)
    single.train()
    expected = _weights(single)
    ranks = [torch.load(tmp_path / "ddp" / f"rank{r}.pt") for r in (0, 1)]
    assert [r["env"] for r in ranks] == [  # one worker on each of two nodes, in one group of two
        {"RANK": str(r), "GROUP_RANK": str(r), "LOCAL_RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1"}
        for r in (0, 1)]  # fmt: skip
    for rank in ranks:
        assert rank["weights"].keys() == expected.keys()
        for name, value in rank["weights"].items():
            torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6)
    state = load_checkpoint(tmp_path / "ddp" / "model_final.pth")
    assert state["iteration"] == 8 and len(state["rng"]) == 2


def test_errors_in_spawned_workers_reach_the_launcher_as_one_line(tmp_path):
    cfg = _cfg(tmp_path, MAX_ITER=4)
    with pytest.raises(FloatingPointError, match="at iteration 2"):
        comm.launch(_nan_worker, 2, "cpu", cfg)


def _nan_worker(cfg):
    seed_all(cfg.SEED)
    Trainer(cfg, TinyDetector(nan_at=2), loader_fn(1, 0.0, comm.get_rank(), 2)).train()


def test_a_resumed_run_writes_each_iteration_once(tmp_path):
    killed = _trainer(_cfg(tmp_path), loader_fn(2, stop_at=6))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    logged = [json.loads(x)["iteration"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5, 6]
    resumed = _trainer(_cfg(tmp_path), loader_fn(2))
    resumed.resume()  # the checkpoint of iteration 4: iterations 5 and 6 run again
    resumed.train()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, 9))


def test_temp_files_of_a_killed_checkpoint_write_are_removed_on_start(tmp_path):
    stale = [tmp_path / ".model_0000004.pth.k2j3l4.tmp", tmp_path / ".last_checkpoint.abc.tmp"]
    other = [tmp_path / ".notes.txt.x.tmp", tmp_path / "model_0000004.pth.tmp"]  # not this folder's pattern
    for path in stale + other:
        path.write_bytes(b"partial")
    _trainer(_cfg(tmp_path, MAX_ITER=1), loader_fn(2)).train()
    assert [p.exists() for p in stale + other] == [False, False, True, True]


def test_a_run_whose_data_fails_to_load_writes_nothing(tmp_path):
    def broken_loader(start_iter):
        raise FileNotFoundError("ann.json: annotation file not found")

    with pytest.raises(FileNotFoundError):
        _trainer(_cfg(tmp_path / "out"), broken_loader).train()
    assert not (tmp_path / "out").exists()
