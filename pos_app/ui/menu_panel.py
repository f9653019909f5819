"""The menu on the checkout screen: category tabs, item tiles, the drink options sheet.

One tap on a tile adds the item; a tile with option groups opens :class:`OptionsSheet`
(defaults chosen, required groups marked, limits kept) and its confirm adds the drink.
"Same again" repeats the selected line with its options. In sold-out mode (估清) a tap
marks the tile's item sold out for today, or back. All of it runs on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.cart import MILLI, CartError, Unit
from pos_app.domain.menu import Menu, MenuError, OptionGroup, Tile, choose, default_selection
from pos_app.services.errors import ServiceError
from pos_app.ui.checkout_screen import CheckoutViewModel
from pos_app.ui.context import UiContext
from pos_app.ui.dialogs import WeightDialog
from pos_app.ui.errors import error_text
from pos_app.ui.theme import RESOURCES
from pos_app.ui.widgets import MIN_TOUCH, TouchButton
from sync_client.contract.money import format_yuan

__all__ = ["MenuPanel", "MenuViewModel", "OptionsSheet"]

log = logging.getLogger("chainpos.menu")

TILE_COLUMNS = 5
TILE_HEIGHT = 72
SHEET_COLUMNS = 5
TILE_PADDING = 30
"""Pixels of a tile's width not available to its text (padding, the colour bar)."""
VERSION_CHECK_MS = 30_000
"""How often the panel looks for a menu version that came into force (one indexed read)."""


class MenuViewModel(QObject):
    """The menu in force for the checkout screen and what a tap on it does."""

    menu_changed = Signal()
    tile_changed = Signal(str)  # sku whose sold-out state changed

    def __init__(self, checkout: CheckoutViewModel) -> None:
        super().__init__()
        self.checkout = checkout
        self.ctx: UiContext = checkout.ctx
        self.menu: Menu | None = None
        self.sold_out_mode = False
        self._sold_out: dict[str, bool] = {}
        """Marks made here since the menu was read (the menu's own flags are older)."""
        self._day = ""
        """The business day the menu's sold-out marks are for."""

    def reload(self) -> None:
        """Reads the menu in force again (at start, when HQ's menu, items or prices changed,
        and when a newer version came into force)."""
        service = self.ctx.menu
        try:
            self._day = service.business_date() if service is not None else ""
            self.menu = service.menu() if service is not None else None
        except Exception:  # the menu is a convenience: scanning and search go on without it
            log.exception("menu could not be read; the tiles are hidden")
            self.menu = None
        self._sold_out.clear()
        self.menu_changed.emit()

    def check_version(self) -> None:
        """Reads the menu again when another version came into force (one published ahead
        of time reaching its moment) or a new business day began (yesterday's sold-out
        marks end), so the tiles follow without waiting for a tap."""
        service = self.ctx.menu
        if service is None or self.checkout.draft is None:
            return
        shown = self.menu.version if self.menu is not None else None
        if service.version_in_force() != shown or service.business_date() != self._day:
            self.reload()

    def add(self, tile: Tile, selected: Mapping[str, Sequence[str]] | None = None) -> bool:
        """Adds one of ``tile`` with ``selected`` options (None: the defaults)."""
        vm = self.checkout
        if vm.draft is None or self.ctx.menu is None or self.menu is None:
            return False
        qty_milli = MILLI
        if tile.item.unit is Unit.KG:
            # A weighed item from a tile: its weight first, as from search.
            name = tile.item.name(self.ctx.translator.language)
            dialog = WeightDialog(self.ctx, name, tile.item.unit_price_fen)
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.qty_milli is None:
                return False
            qty_milli = dialog.qty_milli
        before = vm.quantities()
        try:
            line = self.ctx.menu.add(vm.draft, self.menu, tile, selected, qty_milli)
        except (ServiceError, CartError, MenuError) as exc:
            if exc.code == "menu_changed":
                self.reload()
            vm.message.emit(error_text(self.ctx.translator, exc), "error")
            return False
        vm.show_added(line, before)
        return True

    def same_again(self) -> bool:
        """One more of the selected line, same options (再来一份)."""
        vm = self.checkout
        if vm.draft is None or vm.selected_line is None or self.ctx.menu is None:
            return False
        before = vm.quantities()
        try:
            line = self.ctx.menu.again(vm.draft, vm.selected_line)
        except (ServiceError, CartError, MenuError) as exc:
            vm.message.emit(error_text(self.ctx.translator, exc), "error")
            return False
        vm.show_added(line, before)
        return True

    def toggle_sold_out(self, tile: Tile) -> None:
        """Marks ``tile``'s item sold out for today, or back on sale (and tells HQ)."""
        vm = self.checkout
        if self.ctx.menu is None or self.menu is None or vm.cashier is None:
            return
        sold_out = not self.is_sold_out(tile.item.sku)
        try:
            self.ctx.menu.set_sold_out(tile.item.sku, sold_out, vm.cashier)
        except ServiceError as exc:
            vm.message.emit(error_text(self.ctx.translator, exc), "error")
            return
        self._sold_out[tile.item.sku] = sold_out
        t = self.ctx.translator.t
        name = tile.item.name(self.ctx.translator.language)
        key = "menu.marked_sold_out" if sold_out else "menu.back_on_sale"
        vm.message.emit(t(key, name=name), "info")
        self.tile_changed.emit(tile.item.sku)

    def is_sold_out(self, sku: str) -> bool:
        if sku in self._sold_out:
            return self._sold_out[sku]
        tile = self.menu.tile(sku) if self.menu is not None else None
        return bool(tile and tile.sold_out)


class TileButton(TouchButton):
    """A tile: the item's name and price on its category's colour (or its picture)."""

    def __init__(self, tile: Tile, language: str, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.tile = tile
        self.setObjectName(f"tile_{tile.item.sku}")
        self.setProperty("role", "tile")
        self.setMinimumHeight(TILE_HEIGHT)
        self.setMaximumHeight(TILE_HEIGHT + 16)
        # Equal columns whatever the names: the text is elided to the width it gets.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self._name = ""
        if tile.colour:
            self.setStyleSheet(f"QPushButton {{ border-left: 8px solid {tile.colour}; }}")
        if tile.image:
            path = RESOURCES / "menu" / tile.image
            if path.exists():
                self.setIcon(QIcon(str(path)))
        self.show_language(language)

    def show_language(self, language: str) -> None:
        self._name = self.tile.item.name(language)
        self.setToolTip(self._name)
        self._fit()

    def _fit(self) -> None:
        """The name elided to the tile's width (the whole name is the tooltip)."""
        room = max(self.width() - TILE_PADDING, MIN_TOUCH)
        name = self.fontMetrics().elidedText(self._name, Qt.TextElideMode.ElideRight, room)
        self.setText(f"{name}\n{format_yuan(self.tile.item.unit_price_fen)}")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def show_sold_out(self, sold_out: bool, marking: bool) -> None:
        """Grey and untappable when sold out, except while marking (估清 mode)."""
        self.setProperty("soldout", sold_out)
        self.setEnabled(marking or not sold_out)
        self.style().unpolish(self)
        self.style().polish(self)


class OptionsSheet(QDialog):
    """One sheet for a drink's options: each group's choices as buttons, defaults chosen.

    A single-choice group swaps its choice; a multi-choice group toggles up to its maximum
    (a tap beyond it says so and changes nothing). ``add`` is enabled once every required
    group has its choices; the price on it includes the options.

    One sheet serves every tile with the same option groups (:meth:`load`): building and
    first showing a window is most of a tap's cost."""

    def __init__(self, ctx: UiContext, tile: Tile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("options_sheet")
        self.ctx = ctx
        self.tile = tile
        self.selected: dict[str, list[str]] = {}
        t, lang = ctx.translator.t, ctx.translator.language
        self.setMinimumWidth(720)
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setProperty("role", "grand")
        layout.addWidget(self.title)
        self.buttons: dict[tuple[str, str], TouchButton] = {}
        for group in tile.groups:
            layout.addWidget(QLabel(self._group_label(group)))
            row = QGridLayout()
            for n, choice in enumerate(group.choices):
                text = choice.name(lang)
                if choice.price_fen:
                    text += f"\n+{format_yuan(choice.price_fen)}"
                button = TouchButton(text)
                button.setObjectName(f"option_{group.code}_{choice.code}")
                button.setCheckable(True)
                button.clicked.connect(
                    lambda _=False, g=group, c=choice.code: self._on_choice_clicked(g, c)
                )
                row.addWidget(button, n // SHEET_COLUMNS, n % SHEET_COLUMNS)
                self.buttons[(group.code, choice.code)] = button
            layout.addLayout(row)
        self.hint = QLabel()
        self.hint.setObjectName("options_hint")
        layout.addWidget(self.hint)
        actions = QHBoxLayout()
        self.cancel = TouchButton(t("common.cancel"))
        self.cancel.setObjectName("options_cancel")
        self.cancel.clicked.connect(self.reject)
        self.add = TouchButton(role="primary")
        self.add.setObjectName("options_add")
        self.add.clicked.connect(self._on_add_clicked)
        actions.addWidget(self.cancel)
        actions.addWidget(self.add, 2)
        layout.addLayout(actions)
        self.load(tile)

    def load(self, tile: Tile) -> None:
        """Shows ``tile`` (one with the same option groups) with its defaults chosen."""
        lang = self.ctx.translator.language
        self.tile = tile
        self.selected = {k: list(v) for k, v in default_selection(tile.groups).items()}
        self.setWindowTitle(tile.item.name(lang))
        self.title.setText(f"{tile.item.name(lang)}  {format_yuan(tile.item.unit_price_fen)}")
        self.hint.clear()
        self._show()

    def _group_label(self, group: OptionGroup) -> str:
        t, lang = self.ctx.translator.t, self.ctx.translator.language
        name = group.name(lang)
        if group.min_choices and group.single:
            return t("menu.group_required", group=name)
        if group.single:
            return t("menu.group_optional", group=name)
        return t("menu.group_at_most", group=name, max=group.max_choices)

    def _on_choice_clicked(self, group: OptionGroup, code: str) -> None:
        picked = self.selected.setdefault(group.code, [])
        self.hint.clear()
        if group.single:
            if code in picked and group.min_choices == 0:
                picked.clear()
            else:
                picked[:] = [code]
        elif code in picked:
            picked.remove(code)
        elif len(picked) >= group.max_choices:
            self.hint.setText(
                self.ctx.translator.t(
                    "error.too_many_options",
                    group=group.name(self.ctx.translator.language),
                    max=group.max_choices,
                )
            )
        else:
            picked.append(code)
        self._show()

    def price_fen(self) -> int:
        """One drink's price with the options chosen so far."""
        extra = sum(
            c.price_fen
            for g in self.tile.groups
            for c in g.choices
            if c.code in self.selected.get(g.code, ())
        )
        return self.tile.item.unit_price_fen + extra

    def _complete(self) -> bool:
        try:
            choose(self.tile.groups, self.selected)
        except MenuError:
            return False
        return True

    def _show(self) -> None:
        for (group, code), button in self.buttons.items():
            button.setChecked(code in self.selected.get(group, ()))
        self.add.setText(self.ctx.translator.t("menu.add", price=format_yuan(self.price_fen())))
        self.add.setEnabled(self._complete())

    def _on_add_clicked(self) -> None:
        if self._complete():
            self.accept()


class MenuPanel(QWidget):
    """Category tabs over a grid of tiles, with 估清 (sold-out mode) beside the tabs.

    Each category's page is built the first time it is shown, so a menu of hundreds of
    tiles costs only the page on screen."""

    def __init__(self, vm: MenuViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("menu_panel")
        self.vm = vm
        self.ctx = vm.ctx
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        tabs_row = QHBoxLayout()
        self.tabs = QButtonGroup(self)
        self.tabs.setExclusive(True)
        self.tab_buttons: list[TouchButton] = []
        self.tabs_box = QHBoxLayout()
        tabs_row.addLayout(self.tabs_box, 1)
        self.sold_out_button = TouchButton()
        self.sold_out_button.setObjectName("sold_out_mode")
        self.sold_out_button.setCheckable(True)
        self.sold_out_button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.sold_out_button.toggled.connect(self._on_sold_out_button_toggled)
        tabs_row.addWidget(self.sold_out_button)
        layout.addLayout(tabs_row)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)
        self.tiles: dict[str, TileButton] = {}
        """Each built tile by sku (the first, when an item is on several tabs)."""
        self._buttons: dict[str, list[TileButton]] = {}
        self._built: set[int] = set()
        self.sheet: OptionsSheet | None = None
        """The options sheet on screen, if any."""
        self._sheets: dict[tuple[OptionGroup, ...], OptionsSheet] = {}
        vm.menu_changed.connect(self._on_vm_menu_changed)
        vm.tile_changed.connect(self._on_vm_tile_changed)
        self._version_timer = QTimer(self)
        self._version_timer.timeout.connect(vm.check_version)
        self._version_timer.start(VERSION_CHECK_MS)
        self.retranslate()

    # -- building ------------------------------------------------------------------------

    def _on_vm_menu_changed(self) -> None:
        for button in self.tab_buttons:
            self.tabs.removeButton(button)
            self.tabs_box.removeWidget(button)
            button.hide()
            button.deleteLater()
        self.tab_buttons.clear()
        while self.pages.count():
            page = self.pages.widget(0)
            assert page is not None
            self.pages.removeWidget(page)
            page.deleteLater()
        self.tiles.clear()
        self._buttons.clear()
        self._built.clear()
        for sheet in self._sheets.values():
            sheet.deleteLater()
        self._sheets.clear()
        menu = self.vm.menu
        self.setVisible(menu is not None and bool(menu.categories))
        if menu is None:
            return
        lang = self.ctx.translator.language
        for i, category in enumerate(menu.categories):
            tab = TouchButton(category.name(lang))
            tab.setObjectName(f"category_{category.code}")
            tab.setCheckable(True)
            tab.setMinimumHeight(44)
            tab.clicked.connect(lambda _=False, index=i: self.show_category(index))
            self.tabs.addButton(tab, i)
            self.tabs_box.addWidget(tab)
            self.tab_buttons.append(tab)
            self.pages.addWidget(QWidget())
        if menu.categories:
            self.show_category(0)

    def show_category(self, index: int) -> None:
        """Shows a category's tiles (building its page the first time)."""
        menu = self.vm.menu
        if menu is None or not 0 <= index < len(menu.categories):
            return
        if index not in self._built:
            self._build_page(index)
        self.tab_buttons[index].setChecked(True)
        self.pages.setCurrentIndex(index)

    def _build_page(self, index: int) -> None:
        assert self.vm.menu is not None
        category = self.vm.menu.categories[index]
        lang = self.ctx.translator.language
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        grid = QGridLayout(inner)
        grid.setSpacing(6)
        grid.setContentsMargins(0, 0, 0, 0)
        for n, tile in enumerate(category.tiles):
            button = TileButton(tile, lang)
            button.clicked.connect(lambda _=False, t=tile: self._on_tile_clicked(t))
            button.show_sold_out(self.vm.is_sold_out(tile.item.sku), self.vm.sold_out_mode)
            grid.addWidget(button, n // TILE_COLUMNS, n % TILE_COLUMNS)
            self.tiles.setdefault(tile.item.sku, button)
            self._buttons.setdefault(tile.item.sku, []).append(button)
        grid.setRowStretch(len(category.tiles) // TILE_COLUMNS + 1, 1)
        for column in range(TILE_COLUMNS):
            grid.setColumnStretch(column, 1)
        scroll.setWidget(inner)
        old = self.pages.widget(index)
        assert old is not None
        self.pages.insertWidget(index, scroll)
        self.pages.removeWidget(old)
        old.deleteLater()
        self._built.add(index)

    # -- gestures ------------------------------------------------------------------------

    def _on_tile_clicked(self, tile: Tile) -> None:
        if self.vm.sold_out_mode:
            self.vm.toggle_sold_out(tile)
            return
        if not tile.has_options:
            self.vm.add(tile)
            return
        # Not modal (exec): the screen's scan loop keeps running while the sheet is open.
        sheet = self._sheets.get(tile.groups)
        if sheet is None:
            sheet = OptionsSheet(self.ctx, tile, self)
            sheet.accepted.connect(lambda s=sheet: self.vm.add(s.tile, s.selected))
            sheet.finished.connect(lambda _result, s=sheet: self._on_sheet_finished(s))
            self._sheets[tile.groups] = sheet
        else:
            sheet.load(tile)
        self.sheet = sheet
        sheet.open()

    def _on_sheet_finished(self, sheet: OptionsSheet) -> None:
        if self.sheet is sheet:
            self.sheet = None

    def _on_sold_out_button_toggled(self, on: bool) -> None:
        self.vm.sold_out_mode = on
        for sku, buttons in self._buttons.items():
            for button in buttons:
                button.show_sold_out(self.vm.is_sold_out(sku), on)

    def _on_vm_tile_changed(self, sku: str) -> None:
        for button in self._buttons.get(sku, ()):
            button.show_sold_out(self.vm.is_sold_out(sku), self.vm.sold_out_mode)

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.sold_out_button.setText(t("menu.sold_out_mode"))
        self._on_vm_menu_changed()
