"""``ktn evaluate``, whole command, against the literal protocol implementation the tests keep, and its memory.

    .venv/bin/python benchmarks/eval_speed.py [--images 300,1500,5000] [--reference-images 300] [--rounds 2]
                                              [--seed 0] [--work output/bench_eval]

Per size a synthetic set (``ktn data synth``, generated once into ``--work`` and reused) gets a result file of
20 detections per image (``tests/eval_scenes.py``: every person found with its GT points painted, the rest false
positives around the persons). Each command runs in its own process, timed from start to exit with the peak
resident memory of its largest process and its CPU time (all its processes; steadier than the wall time on a
shared machine): ``ktn evaluate GT RESULTS --eval-data DIR --out metrics.json`` (GPS, GPSm,
keypoint AP) and, on the ``--reference-images`` set, ``python tests/reference_eval.py`` (the same metrics, written
literally: docs/densepose_format.md, "Speed and memory"). The two metric sets must be equal to the last bit. Commands
alternate for ``--rounds`` rounds and the fastest of each is kept (robust on a shared machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the scene builder and the reference implementation live with the tests

from eval_scenes import build_results  # noqa: E402

from ktn_model.data.synthetic import generate  # noqa: E402
from ktn_model.threads import cpu_description  # noqa: E402

# Runs a command and prints its CPU seconds (its processes and theirs) and peak resident memory (KiB, the largest
# process's), and its exit status.
_PEAK = "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; " \
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_utime + u.ru_stime, u.ru_maxrss, rc)"  # fmt: skip


def scene(work: Path, images: int, seed: int) -> Path:
    """The synthetic set of ``images`` images with its result file (made once)."""
    data_dir = work / f"synth_{images}_{seed}"
    if not (data_dir / "annotations.json").is_file():
        start = time.perf_counter()
        generate(data_dir, images, seed)
        print(f"generated {images} synthetic images in {time.perf_counter() - start:.1f} s", flush=True)
    if not (data_dir / "results.json").is_file():
        gt = json.loads((data_dir / "annotations.json").read_text())
        (data_dir / "results.json").write_text(json.dumps(build_results(gt, np.random.default_rng(seed))))
    return data_dir


def timed(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MiB) of ``command`` in a fresh process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _PEAK, *command], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    cpu, peak_kib, rc = out.stdout.split()[-3:]
    if rc != "0":
        raise RuntimeError(f"{' '.join(command)} exited with {rc}")
    return elapsed, float(cpu), int(peak_kib) / 1024


def main(images: str = typer.Option("300,1500,5000", help="Set sizes, comma-separated (minival has 1508)."),
         reference_images: int = typer.Option(300, help="Set size on which the reference implementation runs too."),
         rounds: int = typer.Option(2, help="Alternating rounds; the fastest time of each command is kept."),
         seed: int = typer.Option(0, help="Seed of the synthetic sets and the detections."),
         work: Path = typer.Option(Path("output/bench_eval"), help="Folder for the generated sets (reused).")) -> None:
    """Whole-command time and peak memory of `ktn evaluate` per set size, and its speed ratio to the reference."""
    print(f"machine: {cpu_description()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    ktn = str(Path(sys.executable).with_name("ktn"))
    for size in [int(s) for s in images.split(",")]:
        data = scene(work, size, seed)
        gt, results, eval_dir = data / "annotations.json", data / "results.json", data / "eval_data"
        ours_cmd = [ktn, "evaluate", str(gt), str(results), "--eval-data", str(eval_dir), "--out", str(data / "m.json")]
        ref_cmd = [sys.executable, str(ROOT / "tests" / "reference_eval.py"), str(gt), str(results), str(eval_dir)]
        with_ref = size == reference_images
        ours, ref = [], []
        for _ in range(rounds):
            ours.append(timed(ours_cmd))
            if with_ref:
                ref.append(timed(ref_cmd + ["--out", str(data / "ref.json")]))
        n_det = len(json.loads(results.read_text()))
        wall, cpu = min(w for w, _, _ in ours), min(c for _, c, _ in ours)
        peak = max(m for _, _, m in ours)
        print(f"{size} images, {n_det} detections: ktn evaluate {wall:.2f} s wall, {cpu:.2f} s CPU, "
              f"peak {peak:.0f} MiB", flush=True)  # fmt: skip
        if with_ref:
            same = json.loads((data / "m.json").read_text()) == json.loads((data / "ref.json").read_text())
            ref_wall, ref_cpu = min(w for w, _, _ in ref), min(c for _, c, _ in ref)
            print(f"  reference formula implementation {ref_wall:.1f} s wall, {ref_cpu:.1f} s CPU, peak "
                  f"{max(m for _, _, m in ref):.0f} MiB; ratio {ref_wall / wall:.1f}x wall, {ref_cpu / cpu:.1f}x CPU; "
                  f"metrics identical: {same}", flush=True)  # fmt: skip
            if not same:
                raise SystemExit("the metrics differ from the reference implementation")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    typer.run(main)
