"""Runs every benchmark module and prints one JSON object per result line."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from tests.benchmarks._stats import Options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks")
    parser.add_argument("--only", action="append", default=[], help="module name fragment")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build fixtures")
    parser.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    args = parser.parse_args(argv)
    opts = Options(quick=args.quick, workdir=args.workdir)
    package = Path(__file__).parent
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(package)]) if m.name.startswith("bench_")
    )
    if args.only:
        names = [n for n in names if any(f in n for f in args.only)]
    out = args.out.open("a", encoding="utf-8") if args.out else None
    try:
        for name in names:
            module = importlib.import_module(f"tests.benchmarks.{name}")
            for result in module.run(opts):
                line = json.dumps(result, ensure_ascii=False)
                print(line, flush=True)
                if out:
                    out.write(line + "\n")
                    out.flush()
    finally:
        opts.cleanup()
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
