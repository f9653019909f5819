"""The settings schema: every setting HQ may publish and the till reads, with its type,
default, bounds and meaning. The ONE definition both sides check values against.

HQ validates a value when it is set (``chainpos-hq config set``, ``PUT /v1/admin/config``)
and refuses a key it does not know (``unknown_setting``). The till validates again when a
setting arrives through the feed and when it starts: a bad value keeps the last good one
(or the default) and is reported; a key it does not know is ignored (a newer HQ may
publish settings an older till has no use for) and reported.

Values are JSON scalars as the feed carries them (:data:`protocol.ConfigValue`): text,
whole numbers, true/false. ``None`` removes a setting (the default applies again), so it
is always acceptable.

Pure standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from sync_client.contract.errors import ChainPosError
from sync_client.contract.holds import DEFAULT_HOLD_TTL_S, MAX_HOLD_TTL_S, MIN_HOLD_TTL_S
from sync_client.contract.scalelabels import layouts_problem

__all__ = [
    "SCHEMA",
    "Setting",
    "SettingsReading",
    "default",
    "is_known",
    "problem",
    "read_settings",
    "spec",
    "validate",
]

Kind = Literal["int", "bool", "str", "enum", "json_list", "scale_layouts"]
Value = str | int | bool

MAX_TEXT = 2000
"""The longest text setting, in characters (receipt headers, lists of skus)."""
TIER_PREFIX = "member.tier_pct."


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``kind`` and what it accepts, its ``default`` and what it means.

    ``int``: a whole number from ``low`` to ``high``; ``bool``: true or false; ``str``:
    text up to :data:`MAX_TEXT`; ``enum``: one of ``choices``; ``json_list``: text holding
    a JSON list of objects, each with every key in ``choices`` (text values);
    ``scale_layouts``: text holding scale-label layouts (:mod:`.scalelabels`).
    """

    key: str
    kind: Kind
    default: Value
    description: str
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not acceptable (None: it is)."""
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.key} is a whole number from {self.low} to {self.high}"
            if not self.low <= value <= self.high:
                return f"{self.key} is a whole number from {self.low} to {self.high}, not {value}"
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{self.key} is true or false"
        if not isinstance(value, str):
            return f"{self.key} is text"
        if len(value) > MAX_TEXT:
            return f"{self.key} is at most {MAX_TEXT} characters"
        if self.kind == "enum" and value not in self.choices:
            return f"{self.key} is one of {', '.join(self.choices)}, not {value[:40]!r}"
        if self.kind == "json_list":
            return _json_list_problem(self.key, value, self.choices)
        if self.kind == "scale_layouts":
            return None if not value else layouts_problem(value)
        return None


def _json_list_problem(key: str, value: str, fields: tuple[str, ...]) -> str | None:
    try:
        data = json.loads(value)
    except ValueError:
        return f"{key} is a JSON list"
    if not isinstance(data, list) or not data:
        return f"{key} is a non-empty JSON list"
    for entry in data:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(f), str) and entry.get(f) for f in fields
        ):
            return f"{key}: every entry has text {', '.join(fields)}"
    return None


def _int(key: str, default: int, low: int, high: int, description: str) -> Setting:
    return Setting(key, "int", default, description, low=low, high=high)


def _bool(key: str, default: bool, description: str) -> Setting:
    return Setting(key, "bool", default, description)


def _str(key: str, default: str, description: str) -> Setting:
    return Setting(key, "str", default, description)


def _enum(key: str, default: str, choices: tuple[str, ...], description: str) -> Setting:
    return Setting(key, "enum", default, description, choices=choices)


_MONEY_HIGH = 10**10
_ENTRIES: tuple[Setting, ...] = (
    # Selling
    _enum("rounding", "none", ("none", "jiao", "yuan"), "抹零: drop the fen or the jiao too"),
    _int("discount_limit_bp", 1000, 0, 10_000, "most discount without a supervisor (1/100 %)"),
    _enum("receipt_language", "zh_CN", ("zh_CN", "en"), "language printed on receipts"),
    _enum("language", "zh_CN", ("zh_CN", "en"), "language of the till's screens"),
    _str("receipt.header", "", "text printed at the top of the receipt"),
    _str("receipt.footer", "", "text printed at the bottom of the receipt"),
    _int("void.approval_above_fen", 20_000, 0, _MONEY_HIGH, "a cart void above needs approval"),
    _int("void.window_hours", 24, 0, 24 * 366, "hours after its completion a sale may be voided"),
    Setting(
        "scale.layouts",
        "scale_layouts",
        "",
        "scale-label layouts: a JSON list of {name, pattern, prefixes} tried in order "
        "(sync_client.contract.scalelabels; empty: the built-in layouts)",
    ),
    # Stock (server_stub.counts)
    _int(
        "stock.count_variance_alert_milli",
        0,
        0,
        10**12,
        "a count difference above this raises an alert (0: any difference)",
    ),
    # Members (sync_client.contract.loyalty)
    _int("member.points_per_yuan", 1, 0, 1000, "points per yuan of eligible spending"),
    _str("member.earn_excluded_skus", "", "comma-separated skus that never earn"),
    _str("member.earn_excluded_categories", "", "comma-separated categories that never earn"),
    _bool("member.earn_on_stored_value", True, "whether stored-value payments earn points"),
    _int("member.redeem_points_per_yuan", 100, 1, 100_000, "points that make one yuan"),
    _int("member.hold_ttl_s", DEFAULT_HOLD_TTL_S, MIN_HOLD_TTL_S, MAX_HOLD_TTL_S, "hold life"),
    _bool("member.spend_without_code", False, "spending after identification by phone"),
    _int("member.topup_max_fen", 500_000, 0, _MONEY_HIGH, "most stored value one top-up adds"),
    _int(
        "member.topup_daily_max_fen",
        2_000_000,
        0,
        _MONEY_HIGH,
        "most stored value one member is topped up at one store in one business day",
    ),
    # Returns (sync_client.contract.refunds)
    _int("returns.window_days", 7, 0, 365, "days after a sale it may be returned"),
    _str("returns.non_returnable_categories", "", "comma-separated categories never returned"),
    _str("returns.non_returnable_skus", "", "comma-separated skus never returned"),
    _int("returns.approval_above_fen", 10_000, 0, _MONEY_HIGH, "a refund above needs approval"),
    _int("returns.no_receipt_cap_fen", 10_000, 0, _MONEY_HIGH, "most refunded without receipt"),
    _enum(
        "returns.refund_split",
        "proportional",
        ("proportional", "cash_last"),
        "how a refund is split over the sale's tenders",
    ),
    _enum(
        "returns.coupon_back",
        "full_return",
        ("full_return", "never"),
        "a sale's coupon goes back to the member when the whole sale is returned, or never",
    ),
    Setting(
        "returns.reasons",
        "json_list",
        "",
        "return reasons: a JSON list of {code, zh, en} (empty: the built-in list)",
        choices=("code", "zh", "en"),
    ),
    # Payment codes (pos_app.services.gateways): public ids only, the secrets are in the
    # till's keyring.
    Setting(
        "payment.providers",
        "json_list",
        "",
        "payment-code providers: a JSON list of {wallet, base_url, merchant_id} "
        "(and app_id, timeout_ms) per wallet (empty: payment codes are off)",
        choices=("wallet", "base_url", "merchant_id"),
    ),
    _bool(
        "payment.simulator",
        False,
        "the providers are the gateway simulator (demo, tests): loopback base URLs only",
    ),
    # Promotions
    _bool(
        "promotion.best_for_customer",
        True,
        "the till picks the promotions that save the customer most (false: the first "
        "eligible by priority)",
    ),
    # Shifts
    _bool("shift.required", True, "a sale needs an open shift"),
    _int("shift.over_short_threshold_fen", 1000, 0, _MONEY_HIGH, "over/short needing approval"),
    _bool("shift.carry_over_cash", False, "the next shift starts with the cash left"),
    _int("shift.default_float_fen", 50_000, 0, _MONEY_HIGH, "float offered at shift open"),
)

SCHEMA: Mapping[str, Setting] = MappingProxyType({s.key: s for s in _ENTRIES})
"""Every known setting by key (``member.tier_pct.<tier>`` is a family: see :func:`spec`)."""


def spec(key: str) -> Setting | None:
    """The setting ``key``, or None when it is not one this version knows."""
    found = SCHEMA.get(key)
    if found is None and key.startswith(TIER_PREFIX) and len(key) > len(TIER_PREFIX):
        return _int(key, 100, 0, 1000, "points multiplier in percent for a membership tier")
    return found


def is_known(key: str) -> bool:
    return spec(key) is not None


def default(key: str) -> Value | None:
    found = spec(key)
    return None if found is None else found.default


def problem(key: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for ``key`` (None: it is, or it is a removal)."""
    found = spec(key)
    if found is None:
        return f"unknown setting {key}"
    if value is None:
        return None
    return found.problem(value)


def validate(key: str, value: object) -> Value | None:
    """The value to store for ``key``, or raises.

    Raises:
        ChainPosError: ``unknown_setting`` for a key this version does not know,
            ``bad_setting`` for a value the key does not accept (``params``: key, detail).
    """
    found = spec(key)
    if found is None:
        raise ChainPosError("unknown_setting", f"unknown setting {key}", key=key)
    if value is None:
        return None
    why = found.problem(value)
    if why is not None:
        raise ChainPosError("bad_setting", why, key=key, detail=why)
    return value  # type: ignore[return-value]  # problem() checked the type


@dataclass(frozen=True, slots=True)
class SettingsReading:
    """Settings read and checked: ``values`` for every known key (the stored value, the
    last good one, or the default); ``problems`` (key, why) for each value passed over;
    ``unknown`` keys ignored."""

    values: Mapping[str, Value]
    problems: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = ()

    def get(self, key: str) -> Value | None:
        return self.values.get(key, default(key))


def read_settings(
    stored: Mapping[str, object],
    last_good: Mapping[str, object] | None = None,
    *,
    keys: Iterable[str] | None = None,
    on_problem: Callable[[str, str], None] | None = None,
) -> SettingsReading:
    """Checks ``stored`` (key -> JSON-decoded value) against the schema.

    Keys outside the schema among ``keys`` (default: every key of ``stored``) are listed
    as unknown; the caller decides which stored keys are settings at all. A bad value is
    replaced by ``last_good[key]`` when that is acceptable, else by the default.
    """
    values: dict[str, Value] = {k: s.default for k, s in SCHEMA.items()}
    problems: list[tuple[str, str]] = []
    unknown: list[str] = []
    for key in stored if keys is None else keys:
        if key not in stored:
            continue
        found = spec(key)
        if found is None:
            unknown.append(key)
            continue
        value = stored[key]
        if value is None:
            continue
        why = found.problem(value)
        if why is None:
            values[key] = value  # type: ignore[assignment]
            continue
        problems.append((key, why))
        if on_problem is not None:
            on_problem(key, why)
        fallback = (last_good or {}).get(key)
        if fallback is not None and found.problem(fallback) is None:
            values[key] = fallback  # type: ignore[assignment]
    return SettingsReading(MappingProxyType(values), tuple(problems), tuple(unknown))
