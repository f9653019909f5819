"""Turns benchmark JSON lines into the Markdown table of docs/performance.md.

python -m tests.benchmarks --out results.jsonl
python -m tests.benchmarks.table results.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SKIP = {"name", "n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "rate_per_s", "examples"}


def _sizes(row: dict[str, object]) -> str:
    parts = []
    for key, value in row.items():
        if key in _SKIP or isinstance(value, dict | list):
            continue
        parts.append(f"{key}={value}")
    sizes = row.get("sizes")
    if isinstance(sizes, dict):
        parts = [f"{k}={v}" for k, v in sizes.items()] + parts
    return ", ".join(parts)


def table(lines: list[str]) -> str:
    out = [
        "| benchmark | n | p50 ms | p95 ms | p99 ms | rate /s | sizes and notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        cells = [
            str(row.get(k, "")) for k in ("name", "n", "p50_ms", "p95_ms", "p99_ms", "rate_per_s")
        ]
        out.append("| " + " | ".join([*cells, _sizes(row)]) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    lines: list[str] = []
    for path in args:
        lines += Path(path).read_text(encoding="utf-8").splitlines()
    print(table(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
