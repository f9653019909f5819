"""Cup labels (杯贴): one small label per cup for the staff making the drinks.

A label printer in ESC/POS mode (most 40–60 mm label printers used at milk-tea counters
take it) prints each label as a short document that ends in a cut, which such printers
turn into a feed to the next label's gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware._document import Block, Columns, Document, Text

__all__ = ["CupLabel", "cup_label_document"]


@dataclass(frozen=True, slots=True)
class CupLabel:
    """What one cup's label says.

    Attributes:
        order_no: The order's number as called out (e.g. ``"0042"``).
        drink: The drink's name, e.g. ``"芋泥波波"``.
        options: Its options, e.g. ``("大杯", "半糖", "少冰", "加珍珠")``.
        cup: This cup's place among the order's cups, e.g. ``"2/3"``.
        time: Local time, already formatted (``"14:03"``).
        store: The store's name, optional.
    """

    order_no: str
    drink: str
    options: tuple[str, ...]
    cup: str
    time: str
    store: str | None = None


def cup_label_document(label: CupLabel) -> Document:
    """Lays out one cup label: the order number large, the drink, its options, the cup
    count and the time; no drawer kick."""
    blocks: list[Block] = [
        Columns(f"#{label.order_no}", label.cup, bold=True),
        Text(label.drink, bold=True, double=True),
    ]
    if label.options:
        blocks.append(Text(" ".join(label.options)))
    blocks.append(Columns(label.store or "", label.time))
    return Document(tuple(blocks), cut=True, open_drawer=False)
