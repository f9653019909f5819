"""A printer-independent description of one printout.

Blocks say *what* to print; :func:`hardware.render` decides the bytes for a given
printer profile. Money arrives already formatted (``"¥16.00"``): this package never
does money arithmetic. All blocks are frozen, so documents may cross threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Align",
    "Block",
    "Columns",
    "Document",
    "Feed",
    "Item",
    "QRCode",
    "Rule",
    "Text",
    "document_from_dict",
    "document_to_dict",
]


class Align(StrEnum):
    """Horizontal alignment of a line on the paper."""

    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Text:
    """A paragraph, wrapped to the paper width.

    Attributes:
        text: The text; line feeds start new lines.
        align: Where each line sits on the paper.
        bold: Emphasised print.
        double: Double width and double height, so half as many characters fit a line.
    """

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False


@dataclass(frozen=True, slots=True)
class Columns:
    """A label on the left and a value flush right, e.g. ``合计 ... ¥32.00``.

    The left text wraps to the paper width; the right text goes at the end of its
    last line, or on a line of its own when both do not fit together.
    """

    left: str
    right: str
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    """A sale line: the name on its own line(s), then a detail and an amount.

    Attributes:
        name: Product name, e.g. ``"杨枝甘露(大)"``.
        detail: Quantity and unit price, e.g. ``"2 x ¥16.00"``.
        amount: Line amount, e.g. ``"¥32.00"``, flush right.
    """

    name: str
    detail: str
    amount: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal line made of ``char`` across the paper."""

    char: str = "-"


@dataclass(frozen=True, slots=True)
class QRCode:
    """A QR code, centred, with an optional caption under it.

    Attributes:
        payload: The encoded text (e.g. a signed sale reference), sent as UTF-8.
        caption: A line printed centred under the code.
    """

    payload: str
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1


Block = Text | Columns | Item | Rule | QRCode | Feed


@dataclass(frozen=True, slots=True)
class Document:
    """One printout.

    Attributes:
        blocks: What to print, top to bottom.
        cut: Cut the paper at the end (or feed to the tear bar without a cutter).
        open_drawer: Kick the cash drawer open when the job starts.
    """

    blocks: tuple[Block, ...]
    cut: bool = True
    open_drawer: bool = False


_BLOCK_TYPES: dict[str, type[Block]] = {
    cls.__name__: cls for cls in (Text, Columns, Item, Rule, QRCode, Feed)
}


def document_to_dict(doc: Document) -> dict[str, object]:
    """A JSON-ready form of ``doc``, for keeping a printout until it has printed.

    Every block becomes ``{"type": "<class name>", <field>: <value>, ...}``; alignment is
    its string value. :func:`document_from_dict` reads it back to an equal document.
    """
    blocks: list[dict[str, object]] = []
    for block in doc.blocks:
        entry: dict[str, object] = {"type": type(block).__name__}
        for name in block.__slots__:
            value = getattr(block, name)
            entry[name] = value.value if isinstance(value, Align) else value
        blocks.append(entry)
    return {"blocks": blocks, "cut": doc.cut, "open_drawer": doc.open_drawer}


def document_from_dict(data: dict[str, object]) -> Document:
    """The document :func:`document_to_dict` described.

    Raises:
        ValueError: An unknown block type, field or alignment.
    """
    raw_blocks = data.get("blocks")
    if not isinstance(raw_blocks, list):
        raise ValueError("a document needs a list of blocks")
    blocks: list[Block] = []
    for raw in raw_blocks:
        if not isinstance(raw, dict):
            raise ValueError(f"not a block: {raw!r}")
        fields = dict(raw)
        cls = _BLOCK_TYPES.get(str(fields.pop("type", "")))
        if cls is None:
            raise ValueError(f"unknown block type in {raw!r}")
        if "align" in fields:
            fields["align"] = Align(fields["align"])
        try:
            blocks.append(cls(**fields))
        except TypeError as e:
            raise ValueError(f"bad {cls.__name__} block: {e}") from None
    return Document(
        tuple(blocks), cut=bool(data.get("cut", True)), open_drawer=bool(data.get("open_drawer"))
    )
