"""Reconciliation (对账) of a payment provider's daily statement with what the tills pushed.

The statement (the provider's bill CSV for one day) lists every payment and refund the
provider booked for this merchant; HQ holds the payment-code tenders of the sales and the
payment-code refunds of the returns the tills pushed. Each is keyed by the merchant order
number (payments) or the merchant refund number (refunds: see
:func:`sync_client.contract.refunds.paycode_refund_no`), and every key ends in one bucket:

* ``matched``: both sides, same amount;
* ``provider_only``: money moved at the provider that no till reported (a sale lost after
  payment, or a till that has not synced yet);
* ``hq_only``: a till reported money the provider never booked;
* ``amount_differs``: both sides, different amounts.

Anything but ``matched`` raises an alert: a ``discrepancies`` row (kind
``payment_<bucket>``, ``ref`` the order or refund number), which the same managers already
resolve with a note. A re-run of the same day does not raise the same alert twice.

Every run is kept (``reconciliation_runs``: who ran it, the count in each bucket and every
line that did not match), so a day's result reads again later without the bill
(:func:`runs`, :func:`latest_run`; ``chainpos-hq reconcile`` without ``--statement``, the
console's 支付对账 page).

The day is the provider's business day, China time (UTC+8), as the bills are cut.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, and_, insert, select

from server_stub import models as m
from server_stub.db import Database, WriteTx
from sync_client.contract.protocol import PAYMENT_CODE_KINDS
from sync_client.contract.refunds import paycode_refund_no

PROVIDERS = {"wechat": "wechat_pay", "alipay": "alipay", "unionpay": "unionpay"}
"""Provider name on the command line -> the tender kind it books."""

CHINA = timezone(timedelta(hours=8))
Bucket = Literal["matched", "provider_only", "hq_only", "amount_differs"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One payment (``refund`` False, ``key`` the order number) or refund (``key`` the
    refund number) as one side booked it. ``store``: known on HQ's side only."""

    key: str
    refund: bool
    amount_fen: int
    store: str | None = None


@dataclass
class Report:
    provider: str
    day: date
    matched: list[Entry] = field(default_factory=list)
    provider_only: list[Entry] = field(default_factory=list)
    hq_only: list[Entry] = field(default_factory=list)
    amount_differs: list[tuple[Entry, Entry]] = field(default_factory=list)
    alerts_raised: int = 0

    @property
    def clean(self) -> bool:
        return not (self.provider_only or self.hq_only or self.amount_differs)

    def text(self) -> str:
        out = [
            f"reconciliation {self.provider} {self.day.isoformat()}: "
            f"{len(self.matched)} matched, {len(self.provider_only)} at the provider only, "
            f"{len(self.hq_only)} at HQ only, {len(self.amount_differs)} amount differs"
        ]
        for e in self.provider_only:
            out.append(f"  provider_only\t{_what(e)}\t{e.key}\t{_yuan(e.amount_fen)}")
        for e in self.hq_only:
            out.append(f"  hq_only\t{_what(e)}\t{e.key}\t{_yuan(e.amount_fen)}\t{e.store}")
        for prov, hq in self.amount_differs:
            out.append(
                f"  amount_differs\t{_what(hq)}\t{hq.key}\tprovider {_yuan(prov.amount_fen)}"
                f"\tHQ {_yuan(hq.amount_fen)}\t{hq.store}"
            )
        if self.alerts_raised:
            out.append(f"{self.alerts_raised} alert(s) raised")
        return "\n".join(out)


def _what(e: Entry) -> str:
    return "refund" if e.refund else "payment"


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _fen(text: str) -> int:
    value = Decimal(text.strip().lstrip("`").replace(",", "") or "0") * 100
    if value != value.to_integral_value():
        raise ValueError(f"amount {text!r} has more than two decimals")
    return int(value)


# -- the providers' bill formats ---------------------------------------------------------


def parse_statement(provider: str, text: str) -> list[Entry]:
    """The entries of a provider's daily bill (the CSV its bill download returns)."""
    if provider == "wechat":
        return list(_wechat(text))
    if provider == "alipay":
        return list(_alipay(text))
    if provider == "unionpay":
        return list(_unionpay(text))
    raise ValueError(f"unknown provider {provider!r}")


def _wechat(text: str) -> Iterator[Entry]:
    """WeChat Pay's trade bill (交易账单, bill_type=ALL): a header row, one row per trade
    with every value prefixed by a backtick, then a summary block from ``总交易单数``."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    col = {name.strip(): i for i, name in enumerate(header)}
    for row in rows:
        if not row or row[0].startswith("总"):
            break
        val = [v.strip().lstrip("`") for v in row]
        state = val[col["交易状态"]]
        if state == "REFUND":
            yield Entry(val[col["商户退款单号"]], True, _fen(val[col["退款金额"]]))
        elif state == "SUCCESS":
            yield Entry(val[col["商户订单号"]], False, _fen(val[col["订单金额"]]))


def _alipay(text: str) -> Iterator[Entry]:
    """Alipay's business detail bill (业务明细): ``#`` comment lines around a header and
    one row per trade; refunds have 业务类型 退款, a negative amount and the refund
    request number (退款批次号/请求号)."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = csv.reader(lines)
    header = next(rows)
    col = {name.strip(): i for i, name in enumerate(header)}
    for row in rows:
        val = [v.strip() for v in row]
        amount = _fen(val[col["订单金额（元）"]])
        if val[col["业务类型"]] == "退款":
            yield Entry(val[col["退款批次号/请求号"]], True, -amount)
        elif val[col["业务类型"]] == "交易":
            yield Entry(val[col["商户订单号"]], False, amount)


def _unionpay(text: str) -> Iterator[Entry]:
    """UnionPay's merchant settlement file as CSV with its message field names:
    ``txnType`` 01 consume, 04 refund (``orderId`` the refund's own order number),
    ``txnAmt`` in fen."""
    for row in csv.DictReader(io.StringIO(text)):
        if row["txnType"] == "01":
            yield Entry(row["orderId"], False, int(row["txnAmt"]))
        elif row["txnType"] == "04":
            yield Entry(row["orderId"], True, int(row["txnAmt"]))


# -- HQ's side ---------------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


def hq_entries(db: Database, kind: str, day: date) -> Iterator[Entry]:
    """The payment-code tenders of ``kind`` in the sales completed that day (not voided
    ones: a void refunds through the provider like a return) and the refunds of that kind
    in the returns made that day."""
    if kind not in PAYMENT_CODE_KINDS:
        raise ValueError(f"{kind} is not a payment-code kind")
    start, end = _day_bounds(day)
    with db.read(consistent=True) as conn:
        pays = conn.execute(
            select(m.sale_tenders.c.reference, m.sale_tenders.c.amount_fen, m.sales.c.store_code)
            .join(m.sales, m.sales.c.sale_id == m.sale_tenders.c.sale_id)
            .where(
                and_(
                    m.sale_tenders.c.kind == kind,
                    m.sales.c.completed_at >= start,
                    m.sales.c.completed_at < end,
                )
            )
        )
        for ref, amount, store in pays:
            yield Entry(str(ref or ""), False, int(amount), str(store))
        refunds = conn.execute(
            select(
                m.return_refunds.c.return_id,
                m.return_refunds.c.reference,
                m.return_refunds.c.amount_fen,
                m.returns.c.store_code,
            )
            .join(m.returns, m.returns.c.return_id == m.return_refunds.c.return_id)
            .where(
                and_(
                    m.return_refunds.c.kind == kind,
                    m.returns.c.returned_at >= start,
                    m.returns.c.returned_at < end,
                )
            )
        )
        for return_id, ref, amount, store in refunds:
            key = paycode_refund_no(str(return_id), str(ref or ""))
            yield Entry(key, True, int(amount), str(store))


# -- comparing ---------------------------------------------------------------------------


def compare(provider: str, day: date, statement: Iterable[Entry], hq: Iterable[Entry]) -> Report:
    """Puts every key in its bucket. Several rows under one key (a partial refund booked
    twice under one number would be one) are summed on each side first."""
    report = Report(provider, day)
    theirs: dict[tuple[bool, str], Entry] = {}
    for e in statement:
        k = (e.refund, e.key)
        old = theirs.get(k)
        theirs[k] = e if old is None else Entry(e.key, e.refund, old.amount_fen + e.amount_fen)
    ours: dict[tuple[bool, str], Entry] = {}
    for e in hq:
        k = (e.refund, e.key)
        old = ours.get(k)
        ours[k] = (
            e if old is None else Entry(e.key, e.refund, old.amount_fen + e.amount_fen, e.store)
        )
    for k, mine in ours.items():
        other = theirs.pop(k, None)
        if other is None:
            report.hq_only.append(mine)
        elif other.amount_fen == mine.amount_fen:
            report.matched.append(mine)
        else:
            report.amount_differs.append((other, mine))
    report.provider_only.extend(theirs.values())
    return report


def reconcile(
    db: Database,
    provider: str,
    statement_text: str,
    day: date,
    now: datetime,
    actor: str = "cli",
) -> Report:
    """Compares the provider's bill for ``day`` with HQ, raises the alerts and keeps the
    run (by ``actor``) in the same transaction."""
    kind = PROVIDERS[provider]
    report = compare(
        provider, day, parse_statement(provider, statement_text), hq_entries(db, kind, day)
    )

    def run(tx: WriteTx) -> int:
        raised = 0 if report.clean else _raise_alerts(tx, report, now)
        tx.conn.execute(
            insert(m.reconciliation_runs).values(
                provider=provider,
                day=day,
                run_at=now,
                actor=actor[:80],
                matched=len(report.matched),
                provider_only=len(report.provider_only),
                hq_only=len(report.hq_only),
                amount_differs=len(report.amount_differs),
                alerts_raised=raised,
                lines_json=json.dumps([line.as_json() for line in _lines(report)]),
            )
        )
        return raised

    report.alerts_raised = db.run_write(run)
    return report


def _raise_alerts(tx: WriteTx, report: Report, now: datetime) -> int:
    rows: list[dict[str, object]] = []
    for e in report.provider_only:
        rows.append(
            _alert(
                "payment_provider_only",
                "",
                e,
                f"{report.provider} booked {_yuan(e.amount_fen)}; no till reported it",
            )
        )
    for e in report.hq_only:
        rows.append(
            _alert(
                "payment_hq_only",
                e.store or "",
                e,
                f"a till reported {_yuan(e.amount_fen)}; {report.provider} did not book it",
            )
        )
    for prov, hq in report.amount_differs:
        rows.append(
            _alert(
                "payment_amount_differs",
                hq.store or "",
                hq,
                f"{report.provider} booked {_yuan(prov.amount_fen)}, "
                f"a till reported {_yuan(hq.amount_fen)}",
            )
        )
    for r in rows:
        r["created_at"] = now
        r["detail"] = f"{report.day.isoformat()} {r['detail']}"[:300]
    known = {
        (str(k), str(ref))
        for k, ref in tx.conn.execute(
            select(m.discrepancies.c.kind, m.discrepancies.c.ref).where(
                m.discrepancies.c.kind.like("payment_%")
            )
        )
    }
    fresh = [r for r in rows if (str(r["kind"]), str(r["ref"])) not in known]
    if fresh:
        tx.conn.execute(insert(m.discrepancies), fresh)
    return len(fresh)


# -- kept runs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunLine:
    """A line of a kept run that did not match. ``store``: HQ's side only (a line only the
    provider booked names none); amounts None on the side that did not book it."""

    bucket: Bucket
    refund: bool
    key: str
    store: str | None
    provider_fen: int | None
    hq_fen: int | None

    def as_json(self) -> dict[str, object]:
        return {
            "bucket": self.bucket,
            "refund": self.refund,
            "key": self.key,
            "store": self.store,
            "provider_fen": self.provider_fen,
            "hq_fen": self.hq_fen,
        }


def _lines(report: Report) -> list[RunLine]:
    out = [
        RunLine("provider_only", e.refund, e.key, None, e.amount_fen, None)
        for e in report.provider_only
    ]
    out += [
        RunLine("hq_only", e.refund, e.key, e.store, None, e.amount_fen) for e in report.hq_only
    ]
    out += [
        RunLine("amount_differs", h.refund, h.key, h.store, p.amount_fen, h.amount_fen)
        for p, h in report.amount_differs
    ]
    return out


@dataclass(frozen=True, slots=True)
class Run:
    """A kept reconciliation run: its counts and the lines that did not match."""

    id: int
    provider: str
    day: date
    run_at: datetime
    actor: str
    matched: int
    provider_only: int
    hq_only: int
    amount_differs: int
    alerts_raised: int
    lines: list[RunLine]

    @property
    def clean(self) -> bool:
        return not (self.provider_only or self.hq_only or self.amount_differs)

    def text(self) -> str:
        out = [
            f"reconciliation {self.provider} {self.day.isoformat()} (run {self.run_at.isoformat()}"
            f" by {self.actor}): {self.matched} matched, {self.provider_only} at the provider "
            f"only, {self.hq_only} at HQ only, {self.amount_differs} amount differs"
        ]
        for ln in self.lines:
            what = "refund" if ln.refund else "payment"
            prov = "—" if ln.provider_fen is None else _yuan(ln.provider_fen)
            hq = "—" if ln.hq_fen is None else _yuan(ln.hq_fen)
            out.append(
                f"  {ln.bucket}\t{what}\t{ln.key}\tprovider {prov}\tHQ {hq}\t{ln.store or '—'}"
            )
        return "\n".join(out)


def _run_of(row: object) -> Run:
    r: Any = row
    lines = [
        RunLine(
            x["bucket"], bool(x["refund"]), x["key"], x["store"], x["provider_fen"], x["hq_fen"]
        )
        for x in json.loads(r.lines_json)
    ]
    return Run(
        int(r.id),
        r.provider,
        r.day,
        r.run_at,
        r.actor,
        int(r.matched),
        int(r.provider_only),
        int(r.hq_only),
        int(r.amount_differs),
        int(r.alerts_raised),
        lines,
    )


def runs(conn: Connection, limit: int = 30) -> list[Run]:
    """The latest kept runs, newest first."""
    rr = m.reconciliation_runs
    q = select(rr).order_by(rr.c.run_at.desc(), rr.c.id.desc()).limit(limit)
    return [_run_of(r) for r in conn.execute(q)]


def latest_run(conn: Connection, provider: str, day: date) -> Run | None:
    """The last run of ``provider``'s bill for ``day``, or None when none was run."""
    rr = m.reconciliation_runs
    row = conn.execute(
        select(rr)
        .where(rr.c.provider == provider, rr.c.day == day)
        .order_by(rr.c.run_at.desc(), rr.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _run_of(row)


def _alert(kind: str, store: str, e: Entry, detail: str) -> dict[str, object]:
    what = "refund" if e.refund else "payment"
    return {
        "kind": kind,
        "store_code": store,
        "sale_id": None,
        "line_no": None,
        "ref": e.key[:64],
        "detail": f"{what} {e.key}: {detail}",
    }
