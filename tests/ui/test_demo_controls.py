"""The chain demo's controls: HQ off and on (to try offline), a printer out of paper (to
try scenario 8), and the HQ commands the demo prints, run as printed."""

from __future__ import annotations

import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PySide6.QtWidgets import QApplication

from hardware import PaperOut
from pos_app import demo
from pos_app.app import build_window
from pos_app.i18n import Translator
from pos_app.ui.customer_display import CustomerDisplay
from pos_app.ui.demo_controls import MID_RECEIPT_BYTES, DemoControls
from server_stub.cli import main as hq_main
from tests.ui.helpers import tap

pytestmark = pytest.mark.slow  # an embedded HQ, the payment simulator, two enrolled tills

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60_000  # ms: the tills' reconnect backs off


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[demo.ChainDemo]:
    chained = demo.prepare(tmp_path / "demo", language="zh_CN")
    for terminal in chained.terminals:
        terminal.start_sync()  # as run_gui does once the windows show
    yield chained
    chained.close()


def _accepts(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def test_hq_stops_and_starts_again_and_the_tills_follow(qtbot, chain: demo.ChainDemo) -> None:
    controls = demo.show_controls(chain, chain.terminals, [])
    qtbot.addWidget(controls)
    url = chain.hq.url
    sync = chain.terminals[0].sync
    assert sync is not None
    qtbot.waitUntil(lambda: sync.status.state == "online", timeout=WAIT)
    assert controls.hq_state.text() == f"总部运行中：{url}"
    assert controls.hq_button.text() == "停止总部（试试离线）"
    tap(qtbot, controls.hq_button)
    qtbot.waitUntil(lambda: controls.hq_button.text() == "启动总部", timeout=WAIT)
    assert controls.hq_state.text().startswith("总部已停止")
    assert not _accepts(url)
    qtbot.waitUntil(lambda: sync.status.state == "offline", timeout=WAIT)
    tap(qtbot, controls.hq_button)
    qtbot.waitUntil(lambda: controls.hq_button.text() == "停止总部（试试离线）", timeout=WAIT)
    assert chain.hq.url == url  # the same port: the tills' credentials still point at it
    assert _accepts(url)
    qtbot.waitUntil(lambda: sync.status.state == "online", timeout=WAIT)


def test_a_printer_runs_out_of_paper_and_gets_a_new_roll(qtbot, chain: demo.ChainDemo) -> None:
    controls = demo.show_controls(chain, chain.terminals, [])
    qtbot.addWidget(controls)
    s001, s002 = (t.virtual_printer for t in chain.terminals)
    assert controls.paper_state["S001"].text() == "S001：有纸"
    tap(qtbot, controls.paper_buttons["S001"]["out"])
    assert s001.status().paper_out and not s002.status().paper_out
    assert controls.paper_state["S001"].text() == "S001：缺纸"
    tap(qtbot, controls.paper_buttons["S001"]["refill"])
    assert not s001.status().paper_out
    tap(qtbot, controls.paper_buttons["S002"]["mid"])
    with pytest.raises(PaperOut):  # the roll ends inside the next receipt
        s002.send(b"x" * (MID_RECEIPT_BYTES + 1))
    assert s002.status().paper_out
    qtbot.waitUntil(lambda: controls.paper_state["S002"].text() == "S002：缺纸", timeout=5000)


def test_the_controls_in_english(qtbot, chain: demo.ChainDemo) -> None:
    printers = {"S001": chain.terminals[0].virtual_printer}
    controls = DemoControls(
        Translator("en"), chain, lambda: chain.hq.url, printers, lambda _s: False
    )
    qtbot.addWidget(controls)
    assert controls.windowTitle() == "Demo controls"
    assert controls.hq_button.text() == "Stop HQ (try offline)"
    assert controls.paper_buttons["S001"]["mid"].text() == "Runs out mid-receipt"
    assert controls.paper_state["S001"].text() == "S001: paper loaded"


def test_the_printed_hq_commands_work_as_printed(
    capsys, monkeypatch, chain: demo.ChainDemo
) -> None:
    monkeypatch.chdir(ROOT)  # installer/run demo starts in the repository's folder
    demo.print_guide(chain)
    out = capsys.readouterr().out
    assert f"Demo data (HQ and both tills; --fresh starts again): {chain.data_dir}" in out
    commands = [
        shlex.split(line.split("#")[0])
        for line in out.splitlines()
        if line.strip().startswith("installer/run hq ") and "<number>" not in line
    ]
    assert len(commands) == 3, out
    assert "chainpos-hq" not in out  # not on a fresh clone's PATH
    for command in commands:
        # installer/run hq passes its arguments to the venv's chainpos-hq unchanged.
        assert command[:2] == ["installer/run", "hq"]
        assert hq_main(command[2:]) == 0, command
    out = capsys.readouterr().out
    assert "S001" in out and "S002-T01" in out


def test_the_demo_member_is_not_the_demo_cashier(chain: demo.ChainDemo) -> None:
    staff = {p["name"] for p in demo.load_demo_json()["staff"]}
    assert [m.name for m in chain.members] and not {m.name for m in chain.members} & staff


def test_the_controls_open_and_close_a_tills_customer_display(qtbot, chain: demo.ChainDemo) -> None:
    windows = [build_window(t) for t in chain.terminals]
    for window in windows:
        qtbot.addWidget(window)
        window.show()
    controls = demo.show_controls(chain, chain.terminals, windows)
    qtbot.addWidget(controls)
    button = controls.display_buttons["S002"]
    assert button.text() == "打开 S002 客显"
    tap(qtbot, button)
    assert button.isChecked() and button.text() == "关闭 S002 客显"
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, CustomerDisplay)]
    assert [d.isVisible() for d in shown] == [True]
    assert shown[0].window_ is windows[1]  # S002's till drives it
    assert shown[0].header.text() == "欢迎光临"
    tap(qtbot, button)
    assert not button.isChecked() and not shown[0].isVisible()
