"""benchmarks/gpu_check.py keeps working without a GPU: its CPU mode says what it skips, ``--tiny`` runs every step
(training steps, golden photos through the network and the post-processing) and fills the doc's block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def test_without_cuda_it_skips_with_a_message(tmp_path):
    doc = tmp_path / "performance.md"
    out = subprocess.run([sys.executable, str(SCRIPT), "--doc", str(doc)], capture_output=True, text=True,
                         env={"CUDA_VISIBLE_DEVICES": "", "PATH": ""}, check=True)  # fmt: skip
    assert "no CUDA device: the training and inference measurements are skipped" in out.stdout
    assert not doc.exists()


def test_tiny_cpu_run_fills_the_block_between_the_markers(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nbefore\n<!-- gpu-check:begin -->\nold\n<!-- gpu-check:end -->\nafter\n")
    out = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--doc", str(doc)], capture_output=True, text=True,
                         env={"CUDA_VISIBLE_DEVICES": "", "PATH": ""}, check=True)  # fmt: skip
    text = doc.read_text()
    assert text.startswith("# Performance\n\nbefore\n<!-- gpu-check:begin -->\nMeasured by") and "old" not in text
    assert text.endswith("<!-- gpu-check:end -->\nafter\n")
    assert "| batch | AMP | images/s | peak GiB |\n|---|---|---|---|\n| 2 | False |" in text
    assert "| slim KTN (CPU smoke run) | 20 |" in text and f"wrote {doc}" in out.stdout
