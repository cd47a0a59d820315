"""Inference speed of every preset family (the Table I variants, PID-net, the cascade, the KTNv2 release's R-50 and
HRNet-W32, detectron2's zoo chart, confidence and CSE models) against torchvision's keypoint R-CNN,
in PyTorch eager mode (``eager``: the defaults, the DensePose branch's 3×3 convolutions through Winograd;
``direct``: with ``TEST.WINOGRAD False``, ours only), through onnxruntime (the graph of ``ktn export``) and eager
with the DensePose branch in bfloat16 (``bf16``: ``TEST.DENSEPOSE_PRECISION``, ours only), at several thread
counts.

Each (model, backend, threads) runs in its own subprocess on the same seeded images (800×1066), randomly
initialised, ``--rounds`` times round-robin (every configuration once per round, the backends of a model side by
side); reported: the fastest image time over all rounds (robust to other load on a shared machine), its ratio to
``keypointrcnn_resnet50_fpn`` with the same backend and threads (its eager time for ``direct`` and ``bf16``), the
speed-up over eager,
parameters, peak memory (CUDA allocator peak, or the process's peak RSS on CPU) and detections per image. The
ONNX files are exported once per model before the rounds, each in its own process (not timed). The zoo and
release presets get their golden fixture's weights (tests/data/golden, ``GOLDEN``): randomly initialised, a FrozenBN
backbone overflows and detects nothing. Timed is the network alone: ``model([image])``, or for onnxruntime the
exported model of ``ktn_model.export`` (one session run, then the keypoint decoding in PyTorch) and torchvision's
own export of keypoint R-CNN (one session run, its keypoint decoding in the graph). Separately, ``post s/image`` is our
post-processing of those detections (``build_postprocess``: rescale, clip and every detection's chart result at
its box size; the paper's Table XVI splits the time the same way), the same Python for both backends, and
``paste s/image`` pastes those results into the image-sized maps ``ktn infer`` writes (``image_maps``: IUV and INDS,
confidences, CSE vertices); the PIL resize is not timed.

    .venv/bin/python benchmarks/model_speed.py --images 1 --rounds 1 --threads 1,2 --backends eager,onnx,bf16 \
        --models KTN,baseline,"detectron2 zoo R-50" --detections 20
    .venv/bin/python benchmarks/model_speed.py --images 1 --rounds 1 --threads 1 --backends eager --detections 20 \
        --models "$(.venv/bin/python benchmarks/model_speed.py --list)"     # every family, forward / post / paste
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
import typer
from torchvision.models.detection import keypointrcnn_resnet50_fpn

from ktn_model.config import setup_cfg
from ktn_model.export import export_model, load_exported
from ktn_model.inference.image_outputs import image_maps, model_output_type
from ktn_model.modeling import build_model, load_weights
from ktn_model.modeling.build import build_postprocess

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "keypointrcnn_resnet50_fpn"
ZOO = "detectron2 zoo R-50"
VARIANTS = {
    "baseline": "densepose_rcnn_R_50_baseline",
    "+MID": "densepose_rcnn_R_50_MIDv2",
    "+KTM": "densepose_rcnn_R_50_KTMv2",
    "KTN": "ktn_R_50_v2",
    "PID-net": "pidnet_R_50",
    "cascade": "densepose_rcnn_R_50_cascade",
    "KTNv2 release R-50": "release/ktnv2_R_50",
    "KTNv2 release HRNet-W32": "release/ktnv2_HRNet_w32",
    ZOO: "detectron2/densepose_rcnn_R_50_FPN_s1x",
    "detectron2 zoo R-50 WC2M": "detectron2/densepose_rcnn_R_50_FPN_WC2M_s1x",
    "detectron2 zoo R-50 CSE": "detectron2/cse/densepose_rcnn_R_50_FPN_soft_s1x",
}
GOLDEN = {  # model -> golden fixture whose weights it runs with (tests/data/golden)
    "KTNv2 release R-50": "R_50_KTNv2",
    "KTNv2 release HRNet-W32": "HRNet_w32_KTNv2",
    ZOO: "R_50_FPN_s1x",
    "detectron2 zoo R-50 WC2M": "R_50_FPN_WC2M_s1x",
    "detectron2 zoo R-50 CSE": "R_50_FPN_soft_s1x_cse",
}
BACKENDS = {  # eager backends -> their config overrides; onnx: the exported graph
    "eager": [],
    "direct": ["TEST.WINOGRAD", "False"],  # ours only
    "bf16": ["TEST.DENSEPOSE_PRECISION", "bfloat16"],  # ours only
    "onnx": [],
}
OURS_ONLY = ("direct", "bf16")
IMAGE_SIZE = (800, 1066)


def _cfg(variant: str, device: str, detections: int, backend: str = "eager"):
    """Score threshold 0, so that every model runs its heads on the same number of detections (random weights)."""
    opts = ["MODEL.DEVICE", device, "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(ROOT / "graphs" / "v2.pkl"),
            "TEST.DETECTIONS_PER_IMAGE", str(detections), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
            *BACKENDS[backend]]
    return setup_cfg(ROOT / "configs" / f"{VARIANTS[variant]}.yaml", opts)


def golden_weights(variant: str, folder: Path) -> str:
    """The golden fixture's weights of ``variant`` written into ``folder`` as the original code's file ("" if none),
    by a child process: a process's peak RSS survives ``exec``, so the children timed later would report this one's."""
    if variant not in GOLDEN:
        return ""
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--golden-folder", str(folder)], check=True,
                         capture_output=True, text=True).stdout
    return out.splitlines()[-1]


def write_golden_weights(variant: str, folder: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden import write_checkpoint

    return str(write_checkpoint(GOLDEN[variant], folder))


def _model(variant: str, device: str, detections: int, weights: str, backend: str = "eager") -> torch.nn.Module:
    torch.manual_seed(0)
    if variant == REFERENCE:
        return keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, box_detections_per_img=detections,
                                         box_score_thresh=0.0)
    model = build_model(_cfg(variant, device, detections, backend))
    if weights:
        load_weights(model, weights)
    return model


def export_onnx(variant: str, detections: int, weights: str, path: Path) -> None:
    """The model's ONNX graph: ``ktn export``'s for ours, torchvision's own export for keypoint R-CNN."""
    model = _model(variant, "cpu", detections, weights).eval()
    if variant != REFERENCE:
        export_model(model, _cfg(variant, "cpu", detections), path, "onnx", check=False)
        return
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings, as in ktn_model.export
        torch.onnx.export(model, ([torch.rand(3, *IMAGE_SIZE)],), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["boxes", "labels", "scores", "keypoints",
                                                               "keypoints_scores"],
                          dynamic_axes={"image": {1: "height", 2: "width"}})


def _runner(variant: str, backend: str, device: str, detections: int, weights: str, onnx_file: str):
    """(image (3, H, W) -> its raw detection dict (ours) or number of detections (keypoint R-CNN's ONNX graph),
    parameter count, the model or exported graph (ours; None for keypoint R-CNN's graph)) for one backend."""
    if backend != "onnx":
        model = _model(variant, device, detections, weights, backend)
        model = model.to(device).eval()
        return (lambda image: model([image])[0]), sum(p.numel() for p in model.parameters()), model
    n_params = sum(t.numel() for t in _model(variant, "cpu", detections, weights).parameters())
    if variant == REFERENCE:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
        scores = [o.name for o in session.get_outputs()].index("scores")
        count = lambda image: len(session.run(None, {session.get_inputs()[0].name: image.numpy()})[scores])  # noqa: E731
        return count, n_params, None
    model = load_exported(onnx_file)[1]  # ours through ktn_model.export's runtime: keypoint decoding timed too
    return (lambda image: model([image])[0]), n_params, model


def measure(variant: str, backend: str, images: int, device: str, threads: int, detections: int, weights: str,
            onnx_file: str) -> dict:
    """Run one model (after one warm-up image) and return its figures."""
    torch.set_num_threads(threads)
    run, n_params, model = _runner(variant, backend, device, detections, weights, onnx_file)
    ours = variant != REFERENCE
    post = build_postprocess(_cfg(variant, device, detections)).bind(model) if ours else None
    output_type = model_output_type(model) if ours else None
    g = torch.Generator().manual_seed(0)
    batch = [torch.rand(3, *IMAGE_SIZE, generator=g).to(device) for _ in range(images + 1)]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    n_det, seconds, post_seconds, paste_seconds = [], [], [], []
    with torch.no_grad():
        run(batch[0])
        for image in batch[1:]:
            sync()
            start = time.perf_counter()
            det = run(image)
            sync()
            seconds.append(time.perf_counter() - start)
            n_det.append(det if isinstance(det, int) else len(det["boxes"]))
            if post is not None:
                start = time.perf_counter()
                (out,) = post([det], [IMAGE_SIZE], [IMAGE_SIZE])
                post_seconds.append(time.perf_counter() - start)
                out = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
                start = time.perf_counter()
                image_maps(out, *IMAGE_SIZE, output_type)
                paste_seconds.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"model": variant, "backend": backend, "threads": threads, "s/image": min(seconds),
            "post s/image": min(post_seconds, default=float("nan")),
            "paste s/image": min(paste_seconds, default=float("nan")),
            "params (M)": n_params / 1e6, "peak memory (MiB)": peak, "detections/image": sum(n_det) / images}


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows).groupby(["model", "backend", "threads"], sort=False).min()
    s = table["s/image"]

    def reference(backend: str, threads: int) -> float:  # keypoint R-CNN has no direct or bf16 row: its eager one
        return s.get((REFERENCE, backend, threads), s.get((REFERENCE, "eager", threads), float("nan")))

    table.insert(1, f"× {REFERENCE}", [s[k] / reference(*k[1:]) for k in s.index])
    table.insert(2, "speed-up over eager", [s.get((k[0], "eager", k[2]), float("nan")) / s[k] for k in s.index])
    return table


def main(images: int = 2, rounds: int = 2, device: str = "cpu", threads: str = "1,2", backends: str = "eager,onnx",
         models: str = ",".join(VARIANTS), detections: int = 100, child: str = typer.Option("", hidden=True),
         backend: str = typer.Option("eager", hidden=True), onnx_file: str = typer.Option("", hidden=True),
         weights: str = typer.Option("", hidden=True), export: bool = typer.Option(False, hidden=True),
         list_models: bool = typer.Option(False, "--list", help="Print every model name, comma-separated."),
         golden_folder: str = typer.Option("", hidden=True)) -> None:
    if list_models:
        print(",".join(VARIANTS))
        return
    if child and golden_folder:
        print(write_golden_weights(child, Path(golden_folder)))
        return
    if child and export:
        export_onnx(child, detections, weights, Path(onnx_file))
        return
    if child:
        print(json.dumps(measure(child, backend, images, device, int(threads), detections, weights, onnx_file)))
        return
    chosen = [REFERENCE, *(m for m in models.split(",") if m)]
    unknown = [m for m in chosen[1:] if m not in VARIANTS] + [b for b in backends.split(",") if b not in BACKENDS]
    if unknown or (device != "cpu" and "onnx" in backends):
        raise typer.BadParameter(f"unknown model/backend {unknown} (models: {list(VARIANTS)}, backends: "
                                 f"{BACKENDS}; onnx runs on cpu only)")
    load = [os.getloadavg()[0]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {m: str(Path(tmp) / f"{k}.onnx") for k, m in enumerate(chosen)}
        common = {m: ["--detections", str(detections), "--weights", golden_weights(m, Path(tmp))] for m in chosen}
        if "onnx" in backends:
            for m in chosen:  # in a child each, so that this process's peak RSS stays out of the children's
                export = ["--child", m, "--export", "--onnx-file", files[m]]
                subprocess.run([sys.executable, __file__, *common[m], *export], check=True, capture_output=True)
                print(f"exported {m}", file=sys.stderr)
        for r in range(rounds):
            for n_threads in threads.split(","):
                for variant in chosen:
                    for b in backends.split(","):
                        if variant == REFERENCE and b in OURS_ONLY:
                            continue
                        cmd = [sys.executable, __file__, *common[variant], "--images", str(images), "--device", device,
                               "--threads", n_threads, "--child", variant, "--backend", b,
                               "--onnx-file", files[variant]]
                        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                        rows.append(json.loads(out.splitlines()[-1]))
                        print(f"round {r + 1}: {variant} {b} {n_threads} thread(s): {rows[-1]['s/image']:.2f} s",
                              file=sys.stderr)
    load.append(os.getloadavg()[0])
    print(f"device {device}, fastest of {rounds}×{images} images of {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]}, random weights, "
          f"score threshold 0, at most {detections} detections; load average {load[0]:.1f} at the start, "
          f"{load[1]:.1f} at the end ({os.cpu_count()} CPUs)")
    print(_table(rows).round(3).to_string())


if __name__ == "__main__":
    typer.run(main)
