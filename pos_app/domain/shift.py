"""Shifts: counting cash by denomination and what the drawer should hold at close.

Everything here is a pure function of the shift's own records (its float, the tenders of
its sales, its refunds and its cash movements), never of what was handed over. Money is
integer fen.

Expected cash = float + cash applied to sales (tendered - change) - cash refunds
+ cash added - cash removed. Change is never counted as cash received: a cash tender
contributes its ``amount_fen`` (what it paid of the total), whatever was handed over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sync_client.contract.money import Fen

CASH = "cash"


class DenominationKind(StrEnum):
    NOTE = "note"
    COIN = "coin"


@dataclass(frozen=True, slots=True)
class Denomination:
    """One note or coin. The ¥1 note and the ¥1 coin are two denominations (counted in
    different trays), with the same value."""

    value_fen: Fen
    kind: DenominationKind

    @property
    def key(self) -> str:
        """Stable name: ``note:10000``, ``coin:50``."""
        return f"{self.kind.value}:{self.value_fen}"


CNY_DENOMINATIONS: tuple[Denomination, ...] = (
    Denomination(10000, DenominationKind.NOTE),
    Denomination(5000, DenominationKind.NOTE),
    Denomination(2000, DenominationKind.NOTE),
    Denomination(1000, DenominationKind.NOTE),
    Denomination(500, DenominationKind.NOTE),
    Denomination(100, DenominationKind.NOTE),
    Denomination(100, DenominationKind.COIN),
    Denomination(50, DenominationKind.COIN),
    Denomination(10, DenominationKind.COIN),
)
"""The notes and coins a Chinese till counts, largest first (¥100 … ¥1 notes, ¥1, 5角
and 1角 coins)."""

_BY_KEY = {d.key: d for d in CNY_DENOMINATIONS}


class CountError(ValueError):
    """A count the drawer cannot hold; ``code`` is a stable key for translation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def denomination(key: str) -> Denomination:
    """The denomination named ``key`` (``note:100``).

    Raises:
        CountError: ``bad_denomination``.
    """
    try:
        return _BY_KEY[key]
    except KeyError:
        raise CountError("bad_denomination", f"no denomination {key!r}") from None


MAX_PIECES = 1_000_000


@dataclass(frozen=True)
class CashCount:
    """Notes and coins counted, by denomination key. Immutable: each change returns a new
    count, so a screen can keep its history for undo."""

    pieces: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, n in self.pieces.items():
            denomination(key)
            if not 0 <= n <= MAX_PIECES:
                raise CountError("bad_count", f"{n} pieces of {key} cannot be counted")

    @property
    def total_fen(self) -> Fen:
        return sum(_BY_KEY[k].value_fen * n for k, n in self.pieces.items())

    def count_of(self, key: str) -> int:
        return self.pieces.get(key, 0)

    def with_count(self, key: str, count: int) -> CashCount:
        """The count with ``count`` pieces of ``key`` (tap counts or a keyed number)."""
        pieces = dict(self.pieces)
        if count:
            pieces[key] = count
        else:
            pieces.pop(key, None)
        return CashCount(pieces)

    def tapped(self, key: str, delta: int = 1) -> CashCount:
        """One more (or ``delta`` more/less, never below zero) piece of ``key``."""
        return self.with_count(key, max(0, self.count_of(key) + delta))

    def with_amount(self, key: str, amount_fen: Fen) -> CashCount:
        """Counting by amount: ``amount_fen`` of ``key`` (a roll of coins, a bundle of
        notes). Raises ``CountError`` (``not_a_multiple``) when the amount is not a whole
        number of pieces."""
        value = denomination(key).value_fen
        if amount_fen < 0 or amount_fen % value:
            raise CountError("not_a_multiple", f"{amount_fen} fen is not a number of {key}")
        return self.with_count(key, amount_fen // value)

    def lines(self) -> list[tuple[Denomination, int]]:
        """Counted denominations, largest first (notes before coins of the same value)."""
        return [(d, self.pieces[d.key]) for d in CNY_DENOMINATIONS if self.pieces.get(d.key)]

    def to_dict(self) -> dict[str, int]:
        return {d.key: n for d, n in self.lines()}

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> CashCount:
        return cls({str(k): int(v) for k, v in data.items() if int(v)})


# --- the arithmetic ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenderTaken:
    """One tender of one sale: ``amount_fen`` is what it paid of the total; for cash
    ``tendered_fen`` is what was handed over (the rest went back as change)."""

    kind: str
    amount_fen: Fen
    tendered_fen: Fen | None = None

    @property
    def change_fen(self) -> Fen:
        return 0 if self.tendered_fen is None else self.tendered_fen - self.amount_fen


@dataclass(frozen=True, slots=True)
class RefundPaid:
    """Money given back for a return, by tender kind."""

    kind: str
    amount_fen: Fen


@dataclass(frozen=True, slots=True)
class CashMoved:
    """Cash added to the drawer (``in``) or taken to the safe (``out``)."""

    direction: str
    amount_fen: Fen


@dataclass(frozen=True, slots=True)
class TenderExpected:
    """One tender kind: what the records say the shift took, net of refunds."""

    kind: str
    expected_fen: Fen
    count: int


@dataclass(frozen=True, slots=True)
class CashFigures:
    """The parts of expected cash, each as recorded."""

    float_fen: Fen
    taken_fen: Fen
    """Σ cash handed over."""
    change_fen: Fen
    refunds_fen: Fen
    added_fen: Fen
    removed_fen: Fen

    @property
    def expected_fen(self) -> Fen:
        return (
            self.float_fen
            + self.taken_fen
            - self.change_fen
            - self.refunds_fen
            + self.added_fen
            - self.removed_fen
        )


def cash_figures(
    float_fen: Fen,
    tenders: Iterable[TenderTaken],
    refunds: Iterable[RefundPaid] = (),
    movements: Iterable[CashMoved] = (),
) -> CashFigures:
    """The cash a drawer should hold, from the shift's records (any order)."""
    taken = change = 0
    for t in tenders:
        if t.kind == CASH:
            handed = t.amount_fen if t.tendered_fen is None else t.tendered_fen
            taken += handed
            change += handed - t.amount_fen
    return CashFigures(
        float_fen=float_fen,
        taken_fen=taken,
        change_fen=change,
        refunds_fen=sum(r.amount_fen for r in refunds if r.kind == CASH),
        added_fen=sum(m.amount_fen for m in movements if m.direction == "in"),
        removed_fen=sum(m.amount_fen for m in movements if m.direction == "out"),
    )


def expected_by_tender(
    float_fen: Fen,
    tenders: Iterable[TenderTaken],
    refunds: Iterable[RefundPaid] = (),
    movements: Iterable[CashMoved] = (),
) -> list[TenderExpected]:
    """Expected amount per tender kind (cash first, then the others by name); cash is
    always present, the other kinds when the shift has them."""
    tenders = list(tenders)
    refunds = list(refunds)
    cash = cash_figures(float_fen, tenders, refunds, movements)
    amounts: dict[str, int] = {}
    counts: dict[str, int] = {}
    for t in tenders:
        amounts[t.kind] = amounts.get(t.kind, 0) + t.amount_fen
        counts[t.kind] = counts.get(t.kind, 0) + 1
    for r in refunds:
        amounts[r.kind] = amounts.get(r.kind, 0) - r.amount_fen
        counts.setdefault(r.kind, 0)
    out = [TenderExpected(CASH, cash.expected_fen, counts.get(CASH, 0))]
    out.extend(
        TenderExpected(kind, amounts[kind], counts[kind])
        for kind in sorted(amounts)
        if kind != CASH
    )
    return out


def over_short(counted_fen: Fen, expected_fen: Fen) -> Fen:
    """Counted minus expected: positive is over (长款), negative is short (短款)."""
    return counted_fen - expected_fen


def needs_sign_off(over_short_fen: Fen, threshold_fen: Fen) -> bool:
    """Whether an over/short needs a reason and a supervisor (beyond the threshold)."""
    return abs(over_short_fen) > threshold_fen
