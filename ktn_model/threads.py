"""torch's CPU threads for a run: a default that does not oversubscribe, bounded by the machine.

On a shared machine, more OpenMP threads than free cores slow every step down several-fold (measured: the tiny
model trained at 0.15 it/s with torch's default threads against 1.2 it/s with one, on 2 busy cores). So the
default is half the usable CPUs, shared by the local workers (``ktn_utils.machine.default_threads``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ktn_utils.machine import cpu_model, default_threads, usable_cpus


def check_threads(threads: int | None = None, workers: int = 1) -> int:
    """The thread count to use: ``threads``, or ``default_threads(workers)`` for None; a ValueError naming the
    limit when it is outside 1..usable CPUs."""
    count = default_threads(workers) if threads is None else threads
    if not 1 <= count <= usable_cpus():
        raise ValueError(f"threads {count}: must be in 1..{usable_cpus()} (the CPUs this process may use)")
    return count


@contextlib.contextmanager
def torch_threads(threads: int | None = None, workers: int = 1) -> Iterator[int]:
    """torch's intra-op threads set to ``check_threads(threads, workers)`` inside the block (onnxruntime sessions
    made there follow it), restored after."""
    count, previous = check_threads(threads, workers), torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)


def cpu_description() -> str:
    """The CPU as every speed figure names it: its model and the kernel set torch uses on it (AVX2, AVX512, ...)."""
    return f"{cpu_model()}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"
