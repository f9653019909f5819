"""The menu as the checkout screen sells from it: categories of tiles, drink options.

A tile is an item with the option groups it asks for (size, sugar, ice, toppings). The
cashier's choice is checked against each group's limits here, once, and becomes a tuple
of :class:`ChosenOption` on the cart line, whose prices (fen per unit) add to the item's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pos_app.domain.cart import LineOption, PricedItem
from sync_client.contract.errors import ChainPosError


class MenuError(ChainPosError, ValueError):
    """A choice of options the menu refuses (``option_required``, ``too_many_options``,
    ``unknown_option``)."""


def _name(zh: str, en: str, language: str) -> str:
    return zh if language.startswith("zh") or not en else en


@dataclass(frozen=True, slots=True)
class OptionChoice:
    code: str
    name_zh: str
    name_en: str
    price_fen: int
    default: bool = False

    def name(self, language: str) -> str:
        return _name(self.name_zh, self.name_en, language)


@dataclass(frozen=True, slots=True)
class OptionGroup:
    """Pick between ``min_choices`` and ``max_choices`` of ``choices`` (never empty)."""

    code: str
    name_zh: str
    name_en: str
    min_choices: int
    max_choices: int
    choices: tuple[OptionChoice, ...]

    def name(self, language: str) -> str:
        return _name(self.name_zh, self.name_en, language)

    @property
    def single(self) -> bool:
        """One choice at most: tapping another replaces it."""
        return self.max_choices == 1

    def defaults(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.choices if c.default)[: self.max_choices]


ChosenOption = LineOption
"""An option on a cart line (the cart's own type)."""


@dataclass(frozen=True, slots=True)
class Tile:
    """A quick key. ``item`` is priced as the menu was built (the tap prices it again);
    ``sold_out``: marked sold out (估清) today."""

    item: PricedItem
    category: str
    colour: str | None
    image: str | None
    groups: tuple[OptionGroup, ...]
    sold_out: bool = False

    @property
    def has_options(self) -> bool:
        return bool(self.groups)


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    tiles: tuple[Tile, ...]

    def name(self, language: str) -> str:
        return _name(self.name_zh, self.name_en, language)


@dataclass(frozen=True, slots=True)
class Menu:
    """The menu in force: ``version`` is HQ's menu version, recorded on lines with options."""

    version: int
    categories: tuple[Category, ...]

    def tile(self, sku: str) -> Tile | None:
        for category in self.categories:
            for tile in category.tiles:
                if tile.item.sku == sku:
                    return tile
        return None

    @property
    def tile_count(self) -> int:
        return sum(len(c.tiles) for c in self.categories)


def default_selection(groups: Sequence[OptionGroup]) -> dict[str, tuple[str, ...]]:
    """Each group's default choices, as the options sheet opens."""
    return {g.code: g.defaults() for g in groups}


def choose(
    groups: Sequence[OptionGroup], selected: Mapping[str, Sequence[str]]
) -> tuple[ChosenOption, ...]:
    """The options chosen, in the groups' and choices' order, checked against the limits.

    Raises:
        MenuError: ``option_required`` (a group with fewer than its minimum; ``group``
            its name), ``too_many_options`` (more than its maximum; ``group``, ``max``),
            ``unknown_option`` (a group or choice the tile does not have).
    """
    by_code = {g.code: g for g in groups}
    for code, picked in selected.items():
        group = by_code.get(code)
        if group is None:
            raise MenuError("unknown_option", f"no option group {code}", option=code)
        known = {c.code for c in group.choices}
        for choice in picked:
            if choice not in known:
                raise MenuError("unknown_option", f"no choice {choice} in {code}", option=choice)
    out: list[ChosenOption] = []
    for group in groups:
        chosen = set(selected.get(group.code, ()))
        if len(chosen) < group.min_choices:
            raise MenuError(
                "option_required",
                f"choose {group.min_choices} of {group.code}",
                group=group.name_zh,
                min=group.min_choices,
            )
        if len(chosen) > group.max_choices:
            raise MenuError(
                "too_many_options",
                f"at most {group.max_choices} of {group.code}",
                group=group.name_zh,
                max=group.max_choices,
            )
        out.extend(
            ChosenOption(group.code, c.code, c.name_zh, c.name_en, c.price_fen)
            for c in group.choices
            if c.code in chosen
        )
    return tuple(out)
