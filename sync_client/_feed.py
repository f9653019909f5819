"""Reading HQ's change feed change by change, so that one change never stops the rest.

HQ's models refuse fields they do not know (``extra="forbid"``): right for what HQ
accepts from terminals, wrong for what a till reads from a newer HQ. Here a page's
envelope is read on its own, then each change: fields this version does not know are
dropped (forward compatibility), kinds it does not know are skipped and counted, and a
change that still does not validate is handed back for quarantine with its raw JSON.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from sync_client.contract import protocol as p
from sync_client.replica import QuarantinedChange

__all__ = [
    "ChangeBatch",
    "LenientChanges",
    "LenientPage",
    "drop_unknown_fields",
    "read_changes",
    "validate_answer",
]


def _change_models() -> dict[str, type[BaseModel]]:
    """kind -> model of every change the protocol defines, read from ``p.FeedChange`` so
    that a new kind is never skipped by a till that knows it."""
    union = typing.get_args(p.FeedChange)[0]
    out: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        kind = model.model_fields["kind"].default
        out[str(kind)] = model
    return out


_BY_KIND: dict[str, type[BaseModel]] = _change_models()


class LenientPage(BaseModel):
    """A pull answer with its changes unread (:class:`protocol.PullResponse` otherwise)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    protocol: int = p.PROTOCOL_VERSION
    after: int
    next_after: int
    head: int
    more: bool
    changes: list[Any]


class LenientChanges(BaseModel):
    """A live ``changes`` message with its changes unread."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str
    after: int
    next_after: int
    changes: list[Any]


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Changes read from a page: the good ones, the ones to quarantine, and how many of
    kinds this till does not know were skipped."""

    changes: list[Any]
    quarantine: list[QuarantinedChange]
    skipped: int


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _known_fields(model: type[BaseModel], raw: Any) -> Any:
    """``raw`` with only the fields ``model`` (and its nested models) declare."""
    if not isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in raw:
            continue
        value = raw[name]
        inner = _model_of(info.annotation)
        if inner is not None:
            if get_origin(info.annotation) is list and isinstance(value, list):
                value = [_known_fields(inner, v) for v in value]
            else:
                value = _known_fields(inner, value)
        out[name] = value
    return out


def drop_unknown_fields(data: Any, exc: ValidationError) -> bool:
    """Removes from ``data`` the keys ``exc`` reports as unknown (``extra_forbidden``);
    False when any error is of another kind, or nothing could be removed. A location
    part that is neither a key nor an index is a union member's tag and is passed over."""
    errors = exc.errors()
    if not errors or any(e["type"] != "extra_forbidden" for e in errors):
        return False
    dropped = False
    for err in errors:
        *path, key = err["loc"]
        node = data
        for part in path:
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if in_list or (isinstance(node, dict) and part in node):
                node = node[part]
        if isinstance(node, dict) and key in node:
            del node[key]
            dropped = True
    return dropped


M = typing.TypeVar("M", bound=BaseModel)


def validate_answer(model: type[M], content: bytes | str) -> M:
    """One of HQ's answers read as ``model``, ignoring fields a newer HQ added.

    The models refuse unknown fields (they are what HQ accepts from tills); an answer is
    read strictly first, and only when every complaint is an unknown field are those fields
    dropped and the answer read again. Raises ``ValidationError`` (or ``ValueError`` for
    text that is not JSON) when it still does not fit."""
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        first = exc
    data = json.loads(content)
    for _ in range(4):  # nested unknown fields may surface one level at a time
        if not drop_unknown_fields(data, first):
            raise first
        try:
            return model.model_validate_json(json.dumps(data))
        except ValidationError as exc:
            first = exc
    raise first


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "change"
    return f"{exc.error_count()} error(s), first: {where}: {first['msg']}"


def read_changes(raw_changes: list[Any]) -> ChangeBatch:
    """Reads each change of a page on its own (see the module docstring)."""
    good: list[Any] = []
    bad: list[QuarantinedChange] = []
    skipped = 0
    for raw in raw_changes:
        if not isinstance(raw, dict):
            bad.append(QuarantinedChange(None, "?", "?", json.dumps(raw)[:10_000], "not an object"))
            continue
        seq = raw.get("seq")
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        kind = raw.get("kind")
        model = _BY_KIND.get(kind) if isinstance(kind, str) else None
        if model is None:
            skipped += 1
            continue
        try:
            good.append(model.model_validate(_known_fields(model, raw)))
        except ValidationError as exc:
            bad.append(
                QuarantinedChange(
                    seq,
                    str(kind),
                    str(raw.get("key", "?"))[:200],
                    json.dumps(raw, ensure_ascii=False, default=str)[:100_000],
                    _short(exc),
                )
            )
    return ChangeBatch(good, bad, skipped)
