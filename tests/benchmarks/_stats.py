"""Shared helpers for benchmarks: percentiles and a scratch directory."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Options:
    """What every benchmark's ``run`` receives."""

    quick: bool = False
    workdir: Path | None = None
    _tmp: list[Path] = field(default_factory=list)

    def scratch(self, name: str) -> Path:
        """A fresh directory for one benchmark's fixtures, removed at the end of the run."""
        if self.workdir is not None:
            path = self.workdir / name
            path.mkdir(parents=True, exist_ok=True)
            return path
        path = Path(tempfile.mkdtemp(prefix=f"chainpos-bench-{name}-"))
        self._tmp.append(path)
        return path

    def cleanup(self) -> None:
        for path in self._tmp:
            shutil.rmtree(path, ignore_errors=True)


def percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds from samples in seconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return {}
    if len(ordered) == 1:
        q = [ordered[0]] * 99
    else:
        q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(q[49] * 1000, 3),
        "p95_ms": round(q[94] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }
