"""``python -m server_stub.paysim``: the payment gateway simulator (see :mod:`.app`)."""

from __future__ import annotations

import argparse
import sys

from server_stub.paysim.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server_stub.paysim",
        description="Payment gateway simulator (WeChat Pay, Alipay, UnionPay payment codes)",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="folder for keys, merchants and bookings")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780, help="0: any free port")
    parser.add_argument(
        "--tls-port",
        type=int,
        default=8781,
        help="HTTPS with the simulator's test CA (WeChat Pay's certificate calls); 0: any",
    )
    parser.add_argument(
        "--hold-s",
        type=float,
        default=20.0,
        help="how long the answer to a pay of test code ...0004 is held back (seconds)",
    )
    parser.add_argument("--log-level", default="warning")


if __name__ == "__main__":
    sys.exit(main())
