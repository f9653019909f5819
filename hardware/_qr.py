"""QR code geometry shared by the layout engine (raster QR) and the preview."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qrcode

__all__ = ["qr_matrix", "qr_module_size", "qr_modules"]

_MIN_MODULE, _MAX_MODULE = 2, 8  # dots per module; 2 is the smallest phones read reliably


def _qr(payload: str, border: int) -> qrcode.QRCode:
    # Imported on first use (tens of ms): a terminal starts without it.
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(version=None, error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(payload.encode("utf-8"))
    return code


def qr_modules(payload: str) -> int:
    """Modules per side of the smallest level-M QR code holding ``payload`` (UTF-8)."""
    return 17 + 4 * int(_qr(payload, 0).best_fit())


def qr_module_size(modules: int, dots: int, *, quiet: int) -> int:
    """Dots per module for a ``modules``-wide QR code on a ``dots``-wide paper.

    The symbol aims at half the paper width, between 2 and 8 dots per module, and
    with ``quiet`` modules of border on each side it always fits the paper.

    Args:
        modules: Modules per side of the symbol, without border.
        dots: Printable width in dots.
        quiet: Border modules per side that are part of the printed image.

    Returns:
        Module size in dots, 1 to 8.

    Raises:
        ValueError: Even one dot per module does not fit the paper.
    """
    size = max(_MIN_MODULE, min(_MAX_MODULE, (dots // 2) // modules))
    while size > 1 and (modules + 2 * quiet) * size > dots:
        size -= 1
    if (modules + 2 * quiet) * size > dots:
        raise ValueError(f"a {modules}-module QR code does not fit {dots} dots")
    return size


def qr_matrix(payload: str, *, border: int) -> list[list[bool]]:
    """The module matrix of a level-M QR code, ``True`` = dark.

    Args:
        payload: Text to encode, as UTF-8.
        border: White modules added on each side.

    Returns:
        Square matrix, rows top to bottom.
    """
    code = _qr(payload, border)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]
