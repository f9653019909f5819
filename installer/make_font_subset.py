"""Builds the CJK subset font shipped in resources/fonts (see resources/fonts/README.md).

Usage: python installer/make_font_subset.py SOURCE.ttc FACE_INDEX OUT.ttf
Needs fontTools (pip install fonttools); not a runtime dependency.
"""

import contextlib
import sys

from fontTools import subset
from fontTools.ttLib import TTCollection

chars = set()
for b1 in range(0xB0, 0xF8):
    for b2 in range(0xA1, 0xFF):
        with contextlib.suppress(UnicodeDecodeError):
            chars.add(bytes([b1, b2]).decode("gb2312"))
for b1 in range(0xA1, 0xB0):
    for b2 in range(0xA1, 0xFF):
        with contextlib.suppress(UnicodeDecodeError):
            chars.add(bytes([b1, b2]).decode("gb2312"))
chars.update(chr(c) for c in range(0x20, 0x7F))
chars.update(chr(c) for c in range(0xA0, 0x180))
chars.update(chr(c) for c in range(0x2000, 0x206F))
chars.update(chr(c) for c in range(0x3000, 0x303F))
chars.update(chr(c) for c in range(0xFF00, 0xFFEF))
chars.update("¥￥×÷±°€→←↑↓√✓✗…·—–")
src, idx, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
coll = TTCollection(src)
font = coll.fonts[idx]
opts = subset.Options()
opts.layout_features = ["*"]
opts.name_IDs = ["*"]
opts.hinting = False
opts.desubroutinize = False
opts.notdef_outline = True
s = subset.Subsetter(opts)
s.populate(unicodes=[ord(c) for c in chars])
s.subset(font)
font.save(out)
