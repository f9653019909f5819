"""Does a screen fit? Finds what a cashier would see cut off on a small touchscreen.

A store's till is a maximised window on a fixed panel (1024×768, 1366×768, 1920×1080):
the window manager gives it the screen, whatever the layouts ask for. ``put_on_screen``
does the same offscreen — it drops the window's own minimum and sets it to the screen's
size — so a layout that wants more height than the panel has is squeezed as it would be
in the store. ``misfits`` then lists every visible widget that is

- **squeezed**: smaller than its minimum size hint (a row of the member panel drawn as a
  sliver, a keypad whose keys are shorter than a fingertip);
- **clipped**: partly outside its parent, or outside the window (完成收款 below the
  screen's edge);
- **overlapping**: a sibling laid out by the same parent covers part of it (the payment
  keypad drawn over the tender list).

Content inside a scroll area may be taller than the area: that is what scrolling is for,
so only the scroll area itself has to fit. Item views' own children (headers, viewports,
scroll bars) are Qt's business and are not walked.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QApplication,
    QDialog,
    QLayout,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

SIZES = ((1024, 768), (1366, 768), (1920, 1080))
"""The store panels every screen and dialog must fit."""

_TOLERANCE = 1
"""Pixels of rounding a layout may lose between a minimum hint and a geometry."""


@dataclass(frozen=True)
class Misfit:
    widget: str
    problem: str

    def __str__(self) -> str:
        return f"{self.widget}: {self.problem}"


def put_on_screen(top: QWidget, size: tuple[int, int]) -> None:
    """Gives ``top`` exactly the screen of ``size``, as a window manager maximising it
    (or fitting a dialog to the screen) does, and lets the layouts settle."""
    width, height = size
    wanted = top.sizeHint().expandedTo(top.minimumSizeHint())
    top.setMinimumSize(1, 1)
    top.setMaximumSize(width, height)
    if isinstance(top, QDialog):
        # A dialog opens at the size it asks for, up to the screen.
        top.resize(wanted.boundedTo(QSize(width, height)))
    else:
        top.resize(width, height)
    top.show()
    _settle(top)


def _settle(top: QWidget) -> None:
    for _ in range(3):
        for layout in top.findChildren(QLayout):
            layout.activate()
        top_layout = top.layout()
        if top_layout is not None:
            top_layout.activate()
        QApplication.processEvents()


def _name(widget: QWidget) -> str:
    name = widget.objectName() or ""
    text = ""
    if hasattr(widget, "text"):
        try:
            text = str(widget.text())[:20]  # type: ignore[attr-defined]
        except TypeError:
            text = ""
    path = []
    w: QWidget | None = widget
    while w is not None and len(path) < 3:
        path.append(w.objectName() or type(w).__name__)
        w = w.parentWidget()
    label = f"{type(widget).__name__}({name}{' ' + repr(text) if text else ''})"
    return f"{label} in {'/'.join(reversed(path[1:]))}"


def _minimum(widget: QWidget) -> QSize:
    """What the widget needs to be drawn whole: its layout minimum or hint, or what the
    code set; a word-wrapped label needs its height for the width it has."""
    hint = widget.minimumSizeHint()
    minimum = widget.minimumSize()
    policy = widget.sizePolicy()
    ignored = QSizePolicy.Policy.Ignored
    width = (
        minimum.width()
        if policy.horizontalPolicy() == ignored
        else max(hint.width(), minimum.width())
    )
    height = (
        minimum.height()
        if policy.verticalPolicy() == ignored
        else max(hint.height(), minimum.height())
    )
    if widget.hasHeightForWidth() and policy.verticalPolicy() != ignored:
        height = max(minimum.height(), widget.heightForWidth(widget.width()))
    return QSize(max(width, 0), max(height, 0))


def _laid_out(widget: QWidget) -> bool:
    """Placed by its parent's layout (not a floating overlay or an internal part)."""
    parent = widget.parentWidget()
    if parent is None or parent.layout() is None:
        return False
    return _in_layout(parent.layout(), widget)


def _in_layout(layout: QLayout, widget: QWidget) -> bool:
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item is None:
            continue
        if item.widget() is widget:
            return True
        inner = item.layout()
        if inner is not None and _in_layout(inner, widget):
            return True
    return False


def misfits(top: QWidget) -> list[Misfit]:
    """Everything visible in ``top`` that is squeezed, clipped or overlapping."""
    found: list[Misfit] = []
    screen = QRect(0, 0, top.maximumWidth(), top.maximumHeight())
    if top.width() > screen.width() or top.height() > screen.height():
        found.append(
            Misfit(
                _name(top),
                f"is {top.width()}×{top.height()}, the screen is "
                f"{screen.width()}×{screen.height()}",
            )
        )
    wanted = top.minimumSizeHint()
    if (
        wanted.height() > screen.height() + _TOLERANCE
        or wanted.width() > screen.width() + _TOLERANCE
    ):
        found.append(Misfit(_name(top), f"wants {wanted.width()}×{wanted.height()}"))
    _walk(top, top, found)
    return found


def _walk(top: QWidget, widget: QWidget, found: list[Misfit]) -> None:
    children = [
        c
        for c in widget.findChildren(QWidget, options=_direct())
        if c.isVisibleTo(top) and not c.isWindow()
    ]
    inside_scroll = isinstance(widget.parentWidget(), QWidget) and _is_scroll_content(widget)
    for child in children:
        if not _laid_out(child):
            continue
        geo = child.geometry()
        need = _minimum(child)
        if geo.height() + _TOLERANCE < need.height() or geo.width() + _TOLERANCE < need.width():
            found.append(
                Misfit(
                    _name(child),
                    f"squeezed to {geo.width()}×{geo.height()}, "
                    f"needs {need.width()}×{need.height()}",
                )
            )
        if not inside_scroll and not widget.rect().adjusted(
            -_TOLERANCE, -_TOLERANCE, _TOLERANCE, _TOLERANCE
        ).contains(geo):
            found.append(
                Misfit(
                    _name(child), f"clipped: {_rect(geo)} outside its parent {_rect(widget.rect())}"
                )
            )
        on_top = QRect(child.mapTo(top, child.rect().topLeft()), child.size())
        if not _is_in_scroll(child) and not top.rect().adjusted(
            -_TOLERANCE, -_TOLERANCE, _TOLERANCE, _TOLERANCE
        ).contains(on_top):
            found.append(Misfit(_name(child), f"off the window: {_rect(on_top)}"))
    laid = [c for c in children if _laid_out(c)]
    for i, a in enumerate(laid):
        for b in laid[i + 1 :]:
            overlap = a.geometry().intersected(b.geometry())
            if overlap.width() > _TOLERANCE and overlap.height() > _TOLERANCE:
                found.append(Misfit(_name(a), f"overlaps {_name(b)} by {_rect(overlap)}"))
    for child in children:
        if isinstance(child, QAbstractItemView):
            continue
        if isinstance(child, QScrollArea):
            content = child.widget()
            if content is not None and content.isVisibleTo(top):
                _walk(top, content, found)
            continue
        if isinstance(child, QAbstractScrollArea):
            continue
        _walk(top, child, found)


def _direct():  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    return Qt.FindChildOption.FindDirectChildrenOnly


def _is_scroll_content(widget: QWidget) -> bool:
    viewport = widget.parentWidget()
    area = viewport.parentWidget() if viewport is not None else None
    return isinstance(area, QScrollArea) and area.widget() is widget


def _is_in_scroll(widget: QWidget) -> bool:
    w: QWidget | None = widget.parentWidget()
    while w is not None:
        if _is_scroll_content(w):
            return True
        w = w.parentWidget()
    return False


def _rect(r: QRect) -> str:
    return f"{r.width()}×{r.height()}+{r.x()}+{r.y()}"
