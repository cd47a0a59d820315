"""What this machine offers a run: the CPUs this process may use and the memory available now (torch-free)."""

from __future__ import annotations

import os
import platform

GIB = 2**30


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(workers: int = 1) -> int:
    """Threads per worker that do not oversubscribe: half the usable CPUs (the physical cores on an SMT
    machine, torch's own default there), shared by the workers, at least one."""
    return max(1, usable_cpus() // (2 * workers))


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable`` of /proc/meminfo; else the physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def largest_fitting(bytes_of, memory: int | None = None) -> int:
    """The largest n >= 0 with ``bytes_of(n)`` <= ``memory`` (default: the available memory); ``bytes_of``
    increasing."""
    memory = available_memory() if memory is None else memory
    low, high = 0, 1
    while bytes_of(high) <= memory:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if bytes_of(middle) <= memory else (low, middle)
    return low


def cpu_model() -> str:
    """The CPU's model name (``model name`` of /proc/cpuinfo where there is one, else what the platform says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
