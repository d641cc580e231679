"""CPU seconds that processes spent, read from the kernel (psutil over /proc) around a measured window.

Why CPU time and not only latency: on a shared 2-core machine the neighbours' load moves p99 a lot,
but the CPU a process burns per relayed message barely moves, so it is the figure to compare runs
and commits with.
"""

from __future__ import annotations

import contextlib

import psutil


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid`, its threads, the children it has reaped, and its live descendants.

    Returns 0.0 for a process that is already gone (the caller's window then shows the loss as a
    negative delta, which `CpuWindow` clamps: a vanished process cannot be measured after the fact).
    """
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


class CpuWindow:
    """CPU seconds a set of processes spent between `start()` and `stop()`."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before: dict[int, float] = {}
        self.spent: dict[int, float] = {}

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pid in self.pids}

    def stop(self) -> float:
        self.spent = {pid: max(0.0, cpu_seconds(pid) - self.before[pid]) for pid in self.pids}
        return self.total

    @property
    def total(self) -> float:
        return sum(self.spent.values())
