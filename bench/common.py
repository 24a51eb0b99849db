"""Helpers for the bench scripts: timing with warm-up, peak memory of a child process, a report table.

Benches print ratios measured in one run on one machine; they are never assertions in the test suite.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median_seconds(function: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `function()` over `repeats` runs after `warmup` runs."""
    import torch

    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(first: Callable[[], object], second: Callable[[], object], rounds: int = 7,
                        warmup: int = 2) -> tuple[float, float]:
    """Median times of two functions measured alternately (A, B, A, B, ...), so drift in machine load
    affects both alike; the ratio of the two is what a bench reports."""
    for _ in range(warmup):
        first(), second()
    times_first, times_second = [], []
    for _ in range(rounds):
        times_first.append(median_seconds(first, repeats=1, warmup=0))
        times_second.append(median_seconds(second, repeats=1, warmup=0))
    return statistics.median(times_first), statistics.median(times_second)


def child_peak_rss_mb(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process running `code` minus an idle one with torch."""
    def run(body: str) -> float:
        script = ("import resource, sys; sys.path.insert(0, %r)\nimport torch\n%s\n"
                  "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)" % (str(ROOT), body))
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    return run(code) - run("pass")


def report(title: str, rows: list[tuple[str, str]], results: dict | None = None, out: str | None = None) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if out and results is not None:
        Path(out).write_text(json.dumps(results, indent=2))
        print(f"\nwrote {out}")


def device_name() -> str:
    import platform

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
