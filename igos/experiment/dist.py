"""Processes: torch.distributed ranks and barriers, and local CPU workers (see :mod:`igos.experiment`)."""
from __future__ import annotations

import datetime
import os

import torch

DIST_TIMEOUT = datetime.timedelta(days=7)


#: Most processes ``--workers auto`` starts on a CPU.
MAX_WORKERS = 8


class Dist:
    """Rank, world size and barriers under torchrun; a no-op in one process."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self._owned = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="gloo", timeout=DIST_TIMEOUT)
                self._owned = True

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self._owned:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._owned = False


def device_for_rank(device, local_rank: int, world: int) -> torch.device:
    from ..devices import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % torch.cuda.device_count() if world > 1 else 0)
    return dev


def cpu_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int | str, device="auto") -> int:
    """Processes for ``--workers``: an int >= 1, or ``"auto"`` (one per core on a CPU, at most
    :data:`MAX_WORKERS`; 1 on a GPU, where ``torchrun --nproc-per-node`` picks the GPU count)."""
    from ..devices import resolve_device

    if workers == "auto":
        return 1 if resolve_device(device).type != "cpu" else max(1, min(cpu_cores(), MAX_WORKERS))
    try:
        n = int(workers)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(workers).strip() != str(n):
        raise ValueError(f"workers must be 'auto' or an integer >= 1, got {workers!r}")
    return n


def launch_workers(n: int, argv: list[str]) -> int:
    """Rerun ``python -m igos ARGV`` as ``n`` local processes under ``torch.distributed.run``,
    each with ``cores // n`` threads; returns the launcher's exit status."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cpu_cores() // n))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
           "-m", "igos", *argv]
    print(f"{n} worker processes, {env['OMP_NUM_THREADS']} thread(s) each (torch.distributed.run)", flush=True)
    return subprocess.run(cmd, env=env, check=False).returncode
