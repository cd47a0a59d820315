"""GPU check: R-50 KTN training speed with and without AMP, and inference time split into forward and
post-processing for the released presets; the tables go into docs/performance.md.

    .venv/bin/python benchmarks/gpu_check.py [--doc docs/performance.md] [--iters 5] [--max-batch 32]
    make gpu-check                                   # the same with the default settings
    .venv/bin/python benchmarks/gpu_check.py --tiny  # CPU smoke run of every step with the slim preset

On CUDA (about 5 minutes on one recent GPU):

- **training**: ``configs/ktn_R_50_v2.yaml`` (random weights, 800-px synthetic images), ``Trainer.run_step`` timed
  after warm-up steps (data loading not timed), with ``SOLVER.AMP`` off and on, at 2 images per batch and at the
  largest batch of 2, 4, 8, ... (up to ``--max-batch``) that fits in memory; images/s and the allocator's peak;
- **inference**: the detectron2 zoo R-50, the KTNv2 R-50 and (when ``configs/release/ktnv2_HRNet_w32.yaml`` exists)
  the KTNv2 HRNet-W32 preset, each with its golden-fixture checkpoint (tests/data/golden: the weights the
  original code was checked with, so the detections are those of a trained-looking network) on the two golden
  photos resized to 800 px: seconds per image for the network (``model(images)``, synchronised) and for the
  post-processing (``build_postprocess``: rescaling and the per-detection IUV, to CPU), and the detections.

Without CUDA it says so and skips both; ``--tiny`` runs the same code on CPU with ``configs/ktn_tiny_cpu.yaml``
(random weights, 128 px, one step) so that CI keeps the script working (``tests/test_gpu_check.py``). The table
replaces the text between the two ``gpu-check`` markers of ``--doc`` (written atomically); without ``--doc`` it is
only printed.
"""

from __future__ import annotations

import gc
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]  # train_speed's step timer; the golden fixtures

from golden import load_image, write_checkpoint  # noqa: E402
from train_speed import measure  # noqa: E402

from ktn_model.config import setup_cfg  # noqa: E402
from ktn_model.data.resize import resize_shortest_edge  # noqa: E402
from ktn_model.data.synthetic import generate  # noqa: E402
from ktn_model.inference.pipeline import build_trained_model  # noqa: E402
from ktn_model.modeling import build_model  # noqa: E402
from ktn_model.modeling.build import build_postprocess  # noqa: E402
from ktn_utils.atomic import atomic_write  # noqa: E402

GRAPH = str(ROOT / "graphs" / "v2.pkl")
TRAIN_PRESET = "configs/ktn_R_50_v2.yaml"
TINY_PRESET = "configs/ktn_tiny_cpu.yaml"
INFERENCE = {  # name -> (preset, golden fixture)
    "detectron2 zoo R-50": ("configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml", "R_50_FPN_s1x"),
    "KTNv2 R-50": ("configs/release/ktnv2_R_50.yaml", "R_50_KTNv2"),
    "KTNv2 HRNet-W32": ("configs/release/ktnv2_HRNet_w32.yaml", "HRNet_w32_KTNv2"),
}
PHOTOS = ("astronaut", "coffee")
BEGIN, END = "<!-- gpu-check:begin -->", "<!-- gpu-check:end -->"


def train_cfg(work: Path, batch: int, amp: bool, tiny: bool):
    """The training configuration on a synthetic set of ``2 * batch + 8`` images in ``work``."""
    data = work / f"train_{batch}"
    if not (data / "annotations.json").is_file():
        generate(data, 2 * batch + (2 if tiny else 8), seed=1, image_size=128 if tiny else 320)
    size = ["INPUT.MIN_SIZE_TRAIN", "[128]", "INPUT.MAX_SIZE_TRAIN", "160"] if tiny else \
        ["INPUT.MIN_SIZE_TRAIN", "[800]", "INPUT.MAX_SIZE_TRAIN", "1333"]  # fmt: skip
    return setup_cfg(ROOT / (TINY_PRESET if tiny else TRAIN_PRESET), [
        "OUTPUT_DIR", str(work / "out"), "MODEL.DEVICE", "cpu" if tiny else "cuda", "MODEL.WEIGHTS", "",
        "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH, "DATASETS.TRAIN", repr([f"{data}/annotations.json:{data}/images"]),
        "INPUT.UV_SYMMETRY_FILE", str(data / "UV_symmetry_transforms.mat"), *size,
        "SOLVER.IMS_PER_BATCH", str(batch), "SOLVER.AMP", str(amp), "DATALOADER.NUM_WORKERS", "0" if tiny else "4",
    ])  # fmt: skip


def training_rows(work: Path, iters: int, warmup: int, max_batch: int, tiny: bool) -> list[dict]:
    """Per AMP setting: batch 2 and the largest batch that fits (doubling until out of memory)."""
    rows = []
    for amp in (False,) if tiny else (False, True):
        found = []
        batch = 2
        while batch <= max_batch:
            try:
                figures = measure(train_cfg(work, batch, amp, tiny), iters, warmup)
            except torch.OutOfMemoryError:
                break
            finally:
                gc.collect()  # the failed trainer's tensors
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            found.append({"batch": batch, "AMP": figures["AMP"], "images/s": figures["images/s"],
                          "peak GiB": figures["peak MiB"] / 1024})  # fmt: skip
            print(f"training batch {batch}, AMP {figures['AMP']}: {figures['images/s']:.2f} images/s", flush=True)
            batch *= 2
        rows += found[:1] + found[-1:] if len(found) > 1 else found
    return rows


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _to_cpu(output: dict) -> dict:
    """The post-processed detections on the CPU, as ``Predictor`` returns them."""
    return {k: v.cpu() if isinstance(v, torch.Tensor) else [r.to("cpu") for r in v] if isinstance(v, list) else v
            for k, v in output.items()}  # fmt: skip


def time_inference(cfg, model: torch.nn.Module, photos: list[np.ndarray], rounds: int) -> dict:
    """Seconds per image of the network and of the post-processing (after one warm-up round)."""
    postprocess = build_postprocess(cfg)
    device = next(model.parameters()).device
    resized = [resize_shortest_edge(p, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) for p in photos]
    forward = post = 0.0
    detections = 0
    with torch.no_grad():
        for round_ in range(rounds + 1):
            for photo, small in zip(photos, resized, strict=True):
                image = torch.tensor(small).permute(2, 0, 1).to(device).float().div(255)
                _sync()
                start = time.perf_counter()
                (det,) = model([image])
                _sync()
                middle = time.perf_counter()
                (out,) = postprocess([det], [small.shape[:2]], [photo.shape[:2]])
                _to_cpu(out)
                end = time.perf_counter()
                if round_:
                    forward, post = forward + middle - start, post + end - middle
                    detections += len(det["boxes"])
    count = rounds * len(photos)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"detections/image": detections / count, "forward s/image": forward / count,
            "post-processing s/image": post / count, "peak GiB": peak}  # fmt: skip


def inference_rows(work: Path, rounds: int, tiny: bool) -> list[dict]:
    rows = []
    photos = [load_image(name) for name in PHOTOS]
    if tiny:
        cfg = setup_cfg(ROOT / TINY_PRESET, ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH,
                                               "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "INPUT.MIN_SIZE_TEST", "128",
                                               "INPUT.MAX_SIZE_TEST", "160"])  # fmt: skip
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        return [{"preset": "slim KTN (CPU smoke run)", **time_inference(cfg, model, photos[:1], 1)}]
    for name, (preset, fixture) in INFERENCE.items():
        if not (ROOT / preset).is_file():
            print(f"{name}: {preset} does not exist here, skipped", flush=True)
            continue
        weights = write_checkpoint(fixture, work)
        cfg = setup_cfg(ROOT / preset, ["MODEL.DEVICE", "cuda", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH])
        torch.cuda.reset_peak_memory_stats()
        rows.append({"preset": name, **time_inference(cfg, build_trained_model(cfg, weights).eval(), photos, rounds)})
        row = rows[-1]
        print(f"inference {name}: {row['forward s/image']:.3f} + {row['post-processing s/image']:.3f} s/image",
              flush=True)  # fmt: skip
    return rows


def markdown(rows: list[dict]) -> str:
    """A markdown table of ``rows`` (numbers with 3 significant digits)."""
    columns = list(rows[0])
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows])


def write_doc(doc: Path, text: str) -> None:
    """Replace the text between the markers of ``doc`` (appended with them when absent)."""
    old = doc.read_text() if doc.is_file() else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN) + len(BEGIN)] + "\n" + text + "\n" + old[old.index(END) :]
    else:
        new = old + f"\n{BEGIN}\n{text}\n{END}\n"
    atomic_write(doc, lambda f: f.write(new.encode()))


def main(doc: Path | None = typer.Option(None, "--doc", help="Markdown file whose gpu-check block gets the tables."),
         iters: int = typer.Option(5, "--iters", min=1, help="Timed training steps per setting."),
         warmup: int = typer.Option(2, "--warmup", min=0, help="Untimed training steps first."),
         max_batch: int = typer.Option(32, "--max-batch", min=2, help="Largest training batch tried."),
         rounds: int = typer.Option(3, "--rounds", min=1, help="Timed inference rounds over the photos."),
         tiny: bool = typer.Option(False, "--tiny", help="CPU smoke run with the slim preset.")) -> None:
    """Measure training and inference on CUDA (or, with --tiny, run every step on CPU) and report the tables."""
    if not torch.cuda.is_available() and not tiny:
        print("no CUDA device: the training and inference measurements are skipped (--tiny runs them on CPU)")
        return
    device = "CPU smoke run (--tiny), not a measurement" if tiny else torch.cuda.get_device_name()
    head = (f"Measured by `benchmarks/gpu_check.py` on {device}; torch {torch.__version__}, CUDA "
            f"{torch.version.cuda}, {platform.processor() or platform.machine()}.")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        train = training_rows(Path(tmp), 1 if tiny else iters, 0 if tiny else warmup, 2 if tiny else max_batch, tiny)
        infer = inference_rows(Path(tmp), rounds, tiny)
    what = ("slim KTN, 128 px", "slim KTN, random weights, 128 px") if tiny else ("R-50 KTN, 800 px", "800 px photos")
    text = (f"{head}\n\nTraining ({what[0]}):\n\n{markdown(train)}\n\n"
            f"Inference ({what[1]}):\n\n{markdown(infer)}")
    print(text)
    if doc is not None:
        write_doc(doc, text)
        print(f"wrote {doc}")


if __name__ == "__main__":
    typer.run(main)
