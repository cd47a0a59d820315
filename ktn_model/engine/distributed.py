"""torch.distributed plumbing: local worker spawning, torchrun environments, collectives.

``launch(fn, num_workers, *args)`` runs ``fn(*args)`` once per worker. Under ``torchrun`` (the
``WORLD_SIZE``/``RANK`` environment variables are set) the current process is one worker and joins
the group through ``env://``; otherwise ``num_workers`` > 1 spawns local processes. The backend is
NCCL when CUDA is available (one GPU per worker) and gloo on CPU.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ktn_model.modeling.build import resolve_device

# Errors a worker reports to the launcher by type and message (re-raised there as one line).
REPORTED_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, FloatingPointError)


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_reduce_mean(values: dict[str, torch.Tensor]) -> dict[str, float]:
    """Average scalar tensors over all workers (every worker gets the same floats)."""
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in names])
    if get_world_size() > 1:
        dist.all_reduce(stacked)
        stacked /= get_world_size()
    return dict(zip(names, stacked.tolist(), strict=True))


def all_gather_object(obj) -> list:
    """One picklable object from each worker, in rank order."""
    if get_world_size() == 1:
        return [obj]
    gathered = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def device_type(model_device: str) -> str:
    """"cuda" or "cpu" for a MODEL.DEVICE value ("auto" = CUDA when available)."""
    return resolve_device(model_device).type


def backend(device: str) -> str:
    """NCCL for CUDA workers, gloo for CPU workers."""
    return "nccl" if device == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def launch(fn, num_workers: int, device: str, *args) -> None:
    """Run ``fn(*args)`` in every worker of a process group (or directly for a single worker).

    ``device`` ("cuda" or "cpu") picks the backend; CUDA workers get one GPU each (the local rank).
    """
    if launched_by_torchrun():
        _run_in_group(fn, args, device, init_method="env://", rank=None, world_size=None)
    elif num_workers <= 1:
        fn(*args)
    else:
        _spawn(fn, num_workers, device, args)


def _spawn(fn, num_workers: int, device: str, args: tuple) -> None:
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    mp.start_processes(_spawned_worker, args=(fn, num_workers, device, init_method, errors, args),
                       nprocs=num_workers, start_method="spawn")  # fmt: skip
    if not errors.empty():
        kind, message = errors.get()
        raise kind(message)


def _spawned_worker(local_rank, fn, world_size, device, init_method, errors, args) -> None:
    try:
        _run_in_group(fn, args, device, init_method=init_method, rank=local_rank, world_size=world_size)
    except REPORTED_ERRORS as e:
        errors.put((type(e), str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)))


def _run_in_group(fn, args: tuple, device: str, init_method: str, rank: int | None, world_size: int | None) -> None:
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank or 0)))
    kwargs = {} if rank is None else {"rank": rank, "world_size": world_size}
    dist.init_process_group(backend(device), init_method=init_method, **kwargs)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
