"""The demo's control window: switch HQ off and on, run a virtual printer out of paper.

For a newcomer trying the failure scenarios without a second shell: stopping HQ shows
the tills going offline and selling on (scenario 3), restarting it shows the outbox
draining; a printer out of paper — at once, or in the middle of the next receipt — shows
the sale kept and the receipt waiting (scenario 8). Only ``chainpos demo`` opens it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from pos_app.i18n import Translator
from pos_app.ui.futures import when_done
from pos_app.ui.widgets import TouchButton

MID_RECEIPT_BYTES = 300
"""Print data the roll still takes when it is set to run out mid-receipt (a header)."""


class DemoPrinter(Protocol):
    """What the window needs of a virtual printer (``hardware.VirtualPrinter``)."""

    def set_paper_out(self, paper_out: bool) -> None: ...

    def set_paper_out_after(self, nbytes: int) -> None: ...


class DemoHQ(Protocol):
    """What the window needs of the demo's HQ (``pos_app.demo.ChainDemo``)."""

    hq_running: bool

    def stop_hq(self) -> None: ...

    def start_hq(self) -> None: ...


class DemoControls(QWidget):
    """A small window beside the tills; HQ is switched on a worker thread."""

    def __init__(
        self,
        translator: Translator,
        hq: DemoHQ,
        hq_url: Callable[[], str],
        printers: Mapping[str, DemoPrinter],
        paper_out: Callable[[str], bool],
        parent: QWidget | None = None,
        *,
        customer_display: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("DemoControls")
        # Closing the tills ends the demo even while this window is open.
        self.setAttribute(Qt.WidgetAttribute.WA_QuitOnClose, False)
        self.t = t = translator.t
        self.hq = hq
        self.hq_url = hq_url
        self.printers = printers
        self.paper_out = paper_out
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-hq")
        self.busy = False
        self.setWindowTitle(self.t("demo.title"))
        layout = QVBoxLayout(self)
        hq_box = QGroupBox(self.t("demo.hq"))
        hq_layout = QVBoxLayout(hq_box)
        self.hq_state = QLabel()
        self.hq_state.setObjectName("demo_hq_state")
        self.hq_state.setWordWrap(True)
        hq_layout.addWidget(self.hq_state)
        self.hq_button = TouchButton(role="primary")
        self.hq_button.setObjectName("demo_hq_toggle")
        self.hq_button.clicked.connect(self._on_hq_clicked)
        hq_layout.addWidget(self.hq_button)
        layout.addWidget(hq_box)
        printer_box = QGroupBox(self.t("demo.printers"))
        grid = QGridLayout(printer_box)
        self.paper_state: dict[str, QLabel] = {}
        self.paper_buttons: dict[str, dict[str, TouchButton]] = {}
        for row, store in enumerate(printers):
            state = QLabel()
            state.setObjectName(f"demo_paper_state_{store}")
            grid.addWidget(state, row, 0)
            self.paper_state[store] = state
            buttons: dict[str, TouchButton] = {}
            choices = (
                ("out", t("demo.paper_out"), lambda s=store: printers[s].set_paper_out(True)),
                (
                    "mid",
                    t("demo.paper_mid"),
                    lambda s=store: printers[s].set_paper_out_after(MID_RECEIPT_BYTES),
                ),
                (
                    "refill",
                    t("demo.paper_refill"),
                    lambda s=store: printers[s].set_paper_out(False),
                ),
            )
            for col, (key, text, action) in enumerate(choices, start=1):
                button = TouchButton(text)
                button.setObjectName(f"demo_paper_{key}_{store}")
                button.clicked.connect(lambda _=False, a=action: self._paper(a))
                grid.addWidget(button, row, col)
                buttons[key] = button
            self.paper_buttons[store] = buttons
        layout.addWidget(printer_box)
        self.display_buttons: dict[str, TouchButton] = {}
        if customer_display is not None:
            display_box = QGroupBox(t("demo.customer_display"))
            display_row = QHBoxLayout(display_box)
            for store in printers:
                button = TouchButton(t("demo.display_open", store=store))
                button.setObjectName(f"demo_display_{store}")
                button.setCheckable(True)
                button.clicked.connect(
                    lambda _=False, s=store, b=button: self._toggle_display(customer_display, s, b)
                )
                display_row.addWidget(button)
                self.display_buttons[store] = button
            layout.addWidget(display_box)
        hint = QLabel(self.t("demo.hint"))
        hint.setWordWrap(True)
        layout.addWidget(hint)
        # The roll can run out by itself (mid-receipt): its state is read once a second.
        self.poll = QTimer(self)
        self.poll.setInterval(1000)
        self.poll.timeout.connect(self.refresh)
        self.poll.start()
        self.refresh()

    def refresh(self) -> None:
        if self.busy:
            key = "demo.hq_stopping" if self.hq.hq_running else "demo.hq_starting"
            self.hq_state.setText(self.t(key))
        elif self.hq.hq_running:
            self.hq_state.setText(self.t("demo.hq_running", url=self.hq_url()))
        else:
            self.hq_state.setText(self.t("demo.hq_stopped"))
        self.hq_button.setText(self.t("demo.stop_hq" if self.hq.hq_running else "demo.start_hq"))
        self.hq_button.setEnabled(not self.busy)
        for store, label in self.paper_state.items():
            key = "demo.paper_is_out" if self.paper_out(store) else "demo.paper_is_in"
            label.setText(self.t(key, store=store))

    def _toggle_display(
        self, toggle: Callable[[str], bool], store: str, button: TouchButton
    ) -> None:
        is_open = toggle(store)
        button.setChecked(is_open)
        key = "demo.display_close" if is_open else "demo.display_open"
        button.setText(self.t(key, store=store))

    def _paper(self, action: Callable[[], None]) -> None:
        action()
        self.refresh()

    def _on_hq_clicked(self) -> None:
        if self.busy:
            return
        self.busy = True
        job = self.hq.stop_hq if self.hq.hq_running else self.hq.start_hq
        self.refresh()
        when_done(self.worker.submit(job), self, self._hq_switched)

    def _hq_switched(self, future: Future[None]) -> None:
        self.busy = False
        error = future.exception()
        self.refresh()
        if error is not None:
            print(f"demo: HQ did not switch: {error!r}", file=sys.stderr, flush=True)
            self.hq_state.setText(self.t("demo.hq_failed"))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.poll.stop()
        self.worker.shutdown(wait=False)
        super().closeEvent(event)
