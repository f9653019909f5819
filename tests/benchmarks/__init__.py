"""Benchmarks: ``python -m tests.benchmarks [--only NAME ...] [--quick]``.

Each ``bench_*.py`` module here defines ``run(opts) -> Iterator[dict]``; every dict is one
result and is printed as one JSON line: ``name``, ``n``, then ``p50_ms``/``p95_ms``/
``p99_ms`` or ``rate_per_s``, and the sizes used. Benchmarks measure; they never fail on a
number.
"""
