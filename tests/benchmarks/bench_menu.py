"""Menu tile latency: from a tap on a tile to its line in the cart, at 500 tiles.

The real checkout screen (offscreen Qt) of a till whose database holds 2,000 generated
items and a menu of 500 tiles in 10 categories:

* ``menu.tap_options``: a tap on a drink tile with 4 option groups (size, sugar, ice,
  toppings), a tap on one choice (少冰), a tap on Add: measured from the tile's click to
  the cart's line shown (events processed, the table repainted). What is measured is
  the till's work (sheet built, options checked, item priced, line added, screen
  updated); the cashier's own time between the taps is not.
* ``menu.tap_ten_groups``: the same with a tile asking for 10 option groups.
* ``menu.tap_plain``: a tile without options: one tap, one line.
* ``menu.reload``: reading the menu in force (500 tiles priced) and building the shown
  category's page, as after sign-in or a menu change from HQ.

Goal: tap to line p99 <= 20 ms. The cart starts over every 20 taps (untimed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from pos_app.localdb.engine import write_session
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks._terminal_fixtures import demo_catalog_db, fresh_copy

TILES = 500
CATEGORIES = 10
ITEMS = 2_000


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _group(code: str, name: str, choices: list[tuple[str, str, int]], lo: int, hi: int):
    return {
        "code": code,
        "name_zh": name,
        "min_choices": lo,
        "max_choices": hi,
        "choices": [
            {"code": c, "name_zh": n, "price_fen": fen, "default": i == 0 and lo > 0}
            for i, (c, n, fen) in enumerate(choices)
        ],
    }


def menu_body(skus: list[str]) -> dict[str, Any]:
    """A menu of ``len(skus)`` tiles in 10 categories; one tile in 10 asks for 10 groups,
    one in 10 for none, the others for 4."""
    groups = [
        _group("size", "杯型", [("medium", "中杯", 0), ("large", "大杯", 300)], 1, 1),
        _group(
            "sugar",
            "甜度",
            [
                ("half", "半糖", 0),
                ("full", "全糖", 0),
                ("none", "无糖", 0),
                ("thirty", "三分糖", 0),
            ],
            1,
            1,
        ),
        _group(
            "ice", "温度", [("normal", "正常冰", 0), ("less", "少冰", 0), ("hot", "热", 0)], 1, 1
        ),
        _group(
            "topping",
            "加料",
            [("pearl", "珍珠", 200), ("coconut", "椰果", 200), ("pudding", "布丁", 300)],
            0,
            3,
        ),
    ]
    for n in range(6):
        groups.append(
            _group(f"extra{n}", f"选项{n}", [(f"a{n}", "标准", 0), (f"b{n}", "加量", 100)], 1, 1)
        )
    four = ["size", "sugar", "ice", "topping"]
    ten = [g["code"] for g in groups]
    return {
        "categories": [{"code": f"C{c}", "name_zh": f"分类{c}"} for c in range(CATEGORIES)],
        "groups": groups,
        "tiles": [
            {
                "sku": sku,
                "category": f"C{i * CATEGORIES // len(skus)}",
                "colour": "#C8875E",
                "groups": ten if i % 10 == 0 else [] if i % 10 == 5 else four,
            }
            for i, sku in enumerate(skus)
        ],
    }


def run(opts: Options) -> Iterator[dict[str, Any]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from pos_app.app import build_terminal, build_window
    from pos_app.ui.theme import apply_theme

    samples = 60 if opts.quick else 400
    scratch = opts.scratch("till-menu")
    source, _ = demo_catalog_db(scratch, ITEMS, realistic_pins=False)
    path = fresh_copy(source, scratch / "menu.db")
    from pos_app.localdb.engine import open_database

    engine = open_database(path)
    with write_session(engine) as s:
        skus = [
            str(r[0])
            for r in s.execute(
                text("SELECT sku FROM item WHERE sku LIKE 'G%' ORDER BY sku LIMIT :n"), {"n": TILES}
            )
        ]
        s.execute(
            text(
                "INSERT OR REPLACE INTO menu_version (version, store_code, effective_at, body) "
                "VALUES (2, NULL, '2024-01-01T00:00:00.000000Z', :body)"
            ),
            {"body": json.dumps(menu_body(skus), ensure_ascii=False)},
        )
        s.commit()
    engine.dispose()

    app = QApplication.instance() or QApplication(["bench-menu"])
    apply_theme(app)
    terminal = build_terminal(path, start_devices=False)
    window = build_window(terminal)
    window.resize(1366, 768)
    window.show()
    try:
        cashier = terminal.auth.sign_in("1001", "1234")
        window.vm.start(cashier)
        window.stack.setCurrentWidget(window.checkout)
        panel = window.menu_panel
        assert panel is not None
        reloads = []
        for _ in range(5 if opts.quick else 20):
            t0 = time.perf_counter()
            window.menu_vm.reload()
            app.processEvents()
            reloads.append(time.perf_counter() - t0)
        menu = window.menu_vm.menu
        assert menu is not None and menu.tile_count == TILES, menu and menu.tile_count
        model = window.checkout.model

        def tap(widget: Any) -> None:
            QTest.mouseClick(widget, Qt.MouseButton.LeftButton)

        def sample(category: int, n: int, options: bool, ten: bool) -> float:
            panel.show_category(category)
            tiles = [
                t
                for t in menu.categories[category].tiles
                if t.has_options == options and (len(t.groups) == 10) == ten
            ]
            tile = panel.tiles[tiles[n % len(tiles)].item.sku]
            app.processEvents()
            rows = model.rowCount()
            t0 = time.perf_counter()
            tap(tile)
            if options:
                sheet = panel.sheet
                assert sheet is not None
                tap(sheet.buttons[("ice", "less") if not ten else ("extra0", "b0")])
                tap(sheet.add)
            app.processEvents()
            elapsed = time.perf_counter() - t0
            assert model.rowCount() == rows + 1 or model.rowCount() == rows
            return elapsed

        results: dict[str, list[float]] = {"tap_options": [], "tap_ten_groups": [], "tap_plain": []}
        for i in range(samples + 20):
            if i % 20 == 0:
                window.vm.new_sale()
            kind = ("tap_options", "tap_plain", "tap_options", "tap_ten_groups")[i % 4]
            took = sample(i % CATEGORIES, i, kind != "tap_plain", kind == "tap_ten_groups")
            if i >= 20:  # warm-up
                results[kind].append(took)
        for kind, got in results.items():
            yield {
                "name": f"menu.{kind}",
                "tiles": TILES,
                "n": len(got),
                **percentiles_ms(got),
                "goal_p99_ms": 20,
                "load": _load(),
            }
        yield {
            "name": "menu.reload",
            "tiles": TILES,
            "n": len(reloads),
            **percentiles_ms(reloads),
            "load": _load(),
        }
    finally:
        window.close()
        terminal.close()
