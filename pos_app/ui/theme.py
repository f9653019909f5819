"""The look: the shipped CJK font and the QSS theme."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
CJK_FONT = RESOURCES / "fonts" / "WenQuanYiMicroHei-GB2312.ttf"


def apply_theme(app: QApplication) -> str:
    """Registers the shipped font (so Chinese renders on a machine without CJK fonts),
    makes it the application font, and loads the stylesheet. Returns the font family."""
    font_id = QFontDatabase.addApplicationFont(str(CJK_FONT))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    family = families[0] if families else "Sans Serif"
    font = QFont(family)
    font.setPixelSize(18)
    app.setFont(font)
    app.setStyleSheet((RESOURCES / "theme.qss").read_text(encoding="utf-8"))
    return family
