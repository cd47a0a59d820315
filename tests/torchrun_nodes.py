"""``torchrun --nnodes 2`` on one machine, as two machines would run it: one torchrun per "node", a c10d rendezvous
on 127.0.0.1, one worker per node (CPU, gloo). ``python -m torch.distributed.run`` is what the ``torchrun`` script
runs; light virtual environments lack the script, the module is always there."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_command(node: int, port: int, target: list[str]) -> list[str]:
    """Node ``node`` (0 or 1) of two, running ``target`` (a script or ``-m MODULE``, then its arguments)."""
    return [*TORCHRUN, "--nnodes", "2", "--node_rank", str(node), "--nproc_per_node", "1", "--rdzv_backend", "c10d",
            "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "ktn-two-nodes", *target]  # fmt: skip


def run_two_nodes(target: list[str], log_dir: Path, timeout: float = 180) -> tuple[list[int], str]:
    """Start both nodes, wait for both; (their exit codes, their output). Whatever still runs at the end (a node and
    its workers, each node in its own session) is killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with contextlib.ExitStack() as stack:
        nodes = [subprocess.Popen(node_command(node, port, target), env=env, start_new_session=True,
                                  stdout=stack.enter_context(open(log_dir / f"node{node}.log", "w")),
                                  stderr=subprocess.STDOUT) for port in [free_port()] for node in (0, 1)]  # fmt: skip
        stack.callback(lambda: [os.killpg(n.pid, signal.SIGKILL) for n in nodes if n.poll() is None])
        codes = [node.wait(timeout=timeout) for node in nodes]
    return codes, "".join((log_dir / f"node{node}.log").read_text() for node in (0, 1))
