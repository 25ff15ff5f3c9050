"""CPU seconds and memory of process trees, read from /proc (Linux), for the benchmarks that
say where the machine's cores went."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path


class ProcStats:
    """CPU seconds and resident memory of the server processes (the uvicorn supervisor, its
    workers and the scheduler), read from /proc; RSS sampled every second."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peak_sum_rss = 0
        self._task: asyncio.Task | None = None

    def pids(self) -> list[int]:
        found, todo = [], list(self.roots)
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += [
                        int(c)
                        for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    ]
        return found

    @staticmethod
    def _status(pid: int) -> dict[str, int]:
        out = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    out[name] = int(value.split()[0]) * 1024
        return out

    def cpu_seconds(self) -> dict[int, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        out = {}
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return out

    @staticmethod
    def machine_busy_seconds() -> float:
        """CPU seconds every process of the machine used since boot (all cores)."""
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> dict[str, int]:
        statuses = [self._status(pid) for pid in self.pids()]
        return {
            "sum_rss": sum(s.get("VmRSS", 0) for s in statuses),
            "sum_peak_rss": sum(s.get("VmHWM", 0) for s in statuses),
            "processes": len(statuses),
        }

    async def _sample(self) -> None:
        while True:
            self.peak_sum_rss = max(self.peak_sum_rss, self.rss()["sum_rss"])
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


def postgres_pids() -> list[int]:
    """Every PostgreSQL process of the machine (the benchmarks run on a quiet one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
    return found
