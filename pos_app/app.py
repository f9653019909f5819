"""The composition root: settings, database, services, devices and the window.

Nothing else in the application builds services or devices; each part is handed what it
needs from here. Qt is imported only by :func:`run_gui` and what it calls.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import signal
import sys
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from hardware import PrinterConfigError, PrinterProfile, VirtualPrinter
from pos_app.domain.cart import Rounding
from pos_app.i18n import DEFAULT_LANGUAGE, Translator
from pos_app.localdb.engine import checkpoint, open_database, read_session, write_session
from pos_app.localdb.replica import check_settings
from pos_app.localdb.store import all_settings, get_store, set_setting
from pos_app.services.auth import AuthService
from pos_app.services.catalog import CatalogService
from pos_app.services.checkout import CheckoutService, CheckoutSettings
from pos_app.services.clock import HqClock
from pos_app.services.device_settings import (
    DeviceSettingsService,
    PrinterSettings,
    ScannerSettings,
)
from pos_app.services.devices import DeviceBoard
from pos_app.services.errors import SettingsError
from pos_app.services.gateways import SecretLookup, gateway_from_settings
from pos_app.services.labels import CupLabelService
from pos_app.services.menu import MenuService
from pos_app.services.payments import (
    POLL_INTERVAL_S,
    SHUTDOWN_WAIT_S,
    PaymentGateway,
    PaymentService,
    PayOutcome,
)
from pos_app.services.pickups import PickupService
from pos_app.services.ports import Clock, ReceiptPrinter, SystemClock, TerminalIdentity
from pos_app.services.printing import PrinterFactory, PrintQueue
from pos_app.services.receipts import ReceiptService
from pos_app.services.returns import ReturnService
from pos_app.services.scanners import ScannerHub
from pos_app.services.shifts import ShiftService
from pos_app.services.stock import StockService
from sync_client import CredentialStore
from sync_client.contract.scalelabels import SETTING_KEY as SCALE_LAYOUTS_KEY
from sync_client.contract.scalelabels import layouts_from_setting

log = logging.getLogger("chainpos.app")

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtWidgets import QApplication

    from pos_app.services.members import MemberService
    from pos_app.services.sync import SyncService
    from pos_app.ui.main_window import MainWindow
    from pos_app.ui.scan_filter import ScanEventFilter, ScanTimingClassifier
    from sync_client import Credentials, SyncConfig, SyncRunner

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
RECEIPT_FONT = RESOURCES / "fonts" / "WenQuanYiMicroHei-GB2312.ttf"


class NotEnrolled(RuntimeError):
    """The database has no store/terminal identity yet."""


class VirtualPrinterHost:
    """The built-in virtual printer, listening on a loopback port from first use, so the
    demo and the tests print through the same network driver as a real printer."""

    def __init__(self) -> None:
        self.device = VirtualPrinter()
        self._address: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def address(self) -> tuple[str, int]:
        with self._lock:
            if self._address is None:
                self._address = self.device.serve_tcp()
            return self._address

    def stop(self) -> None:
        self.device.stop()


def printer_factory(settings: PrinterSettings, virtual: VirtualPrinterHost) -> PrinterFactory:
    """What makes the receipt printer the settings describe (called on the print worker,
    so the driver loads there, never while the window is being built).

    Settings that cannot work make a factory that raises ``PrinterConfigError``: jobs
    then wait in the queue instead of going to a printer nobody chose.
    """

    def make() -> ReceiptPrinter:
        from hardware import NetworkConnection, Printer

        try:
            profile = settings.printer_profile()
            connection = settings.connection()
        except SettingsError as exc:
            raise PrinterConfigError(f"printer settings: {exc}") from exc
        if connection is None:
            host, port = virtual.address()
            return Printer(NetworkConnection(host, port, timeout=2.0), profile)
        return Printer(connection, profile)

    return make


@dataclass
class Terminal:
    """Everything a running terminal is made of, without the UI."""

    engine: Engine
    clock: HqClock
    """HQ's time (the offset the sync client measured applied to the local clock)."""
    identity: TerminalIdentity
    translator: Translator
    auth: AuthService
    catalog: CatalogService
    checkout: CheckoutService
    receipts: ReceiptService
    devices: DeviceBoard
    device_settings: DeviceSettingsService
    printing: PrintQueue
    """The durable print queue; its worker thread is the only one that prints."""
    scanners: ScannerHub
    virtual: VirtualPrinterHost
    """The built-in virtual printer (listening only when the settings choose it)."""
    executor: ThreadPoolExecutor
    """One worker thread for WAL checkpoints (and the sync bridge's requests)."""
    credential_store: CredentialStore | None = None
    sync: SyncService | None = None
    """The link to HQ; None for a terminal that was never enrolled (standalone)."""
    members: MemberService | None = None
    """Members at the till (identify, sign up, holds, top-ups); None without HQ."""
    shifts: ShiftService | None = None
    """Shifts and handover at this till."""
    returns: ReturnService | None = None
    """Returns and refunds (own sales offline; others through HQ when enrolled)."""
    stock: StockService | None = None
    """Stock across the chain: look-up, transfers, counts, goods received, alerts."""
    payments: PaymentService | None = None
    """Payment codes through the store's payment gateway (unavailable without one)."""
    pickups: PickupService | None = None
    """Online orders at this till: stock they hold, pick-up orders (到店自提)."""
    payment_worker: ThreadPoolExecutor | None = None
    """Runs the payment service's blocking gateway calls (charge, password wait, settle)."""
    settled: Future[list[PayOutcome]] | None = None
    """The start-up settling of open payment intents (:meth:`settle_payments`)."""
    payment_shutdown_s: float = SHUTDOWN_WAIT_S
    """How long closing waits for a password wait in progress to be reversed."""
    menu: MenuService | None = None
    """The menu's tiles and drink options, sold-out marks (估清)."""
    labels: CupLabelService | None = None
    """Cup labels (杯贴) for paid drinks; None without a label printer."""
    label_virtual: VirtualPrinterHost | None = None
    """The virtual label printer, when the label printer setting chooses it."""

    @property
    def virtual_printer(self) -> VirtualPrinter:
        return self.virtual.device

    def store_name(self, language: str) -> str:
        with read_session(self.engine) as session:
            store = get_store(session, self.identity.store_code)
        if store is None:
            return self.identity.store_code
        return store.name_zh if language.startswith("zh") else store.name_en

    def start_sync(self) -> None:
        """Starts the sync with HQ, then the member service on its thread (which gives
        back holds left by a sale that never completed). Nothing for a standalone till."""
        if self.sync is not None:
            self.sync.start()
        if self.members is not None:
            self.members.start()
        if self.returns is not None:
            self.returns.recover()
        self.settle_payments()

    def settle_payments(self) -> Future[list[PayOutcome]] | None:
        """Asks the gateway, once per start and off the GUI thread, about every payment
        intent a crash or power cut left open, and settles it (paid: kept for a sale to
        take; anything else: reversed or closed). Later calls return the same future."""
        if self.settled is None and self.payments is not None and self.payments.available:
            assert self.payment_worker is not None
            self.settled = self.payment_worker.submit(self._settle_payments)
        return self.settled

    def _settle_payments(self) -> list[PayOutcome]:
        assert self.payments is not None
        outcomes = self.payments.settle_open()
        for o in outcomes:
            log.info("payment %s settled at start: %s", o.order_no, o.state)
        return outcomes

    def close(self) -> None:
        """Stops members and sync, the scanners and the print worker (unprinted jobs stay
        queued for the next start), waits for the worker thread, releases the database."""
        if self.members is not None:
            self.members.stop()
        if self.sync is not None:
            self.sync.stop()
        self.scanners.stop()
        self.printing.stop()
        if self.labels is not None:
            self.labels.stop()
        self.executor.shutdown(wait=True)
        if self.payments is not None:
            # A password wait in progress is cancelled: its charge is reversed, as when the
            # cashier cancels, so nobody pays for a sale the closed till will not finish.
            # Bounded: a reverse without an answer in time leaves the intent open for the
            # next start to settle (the gateway's connections stay open for it meanwhile).
            waits_ended = self.payments.cancel_waits(self.payment_shutdown_s)
            if not waits_ended:
                log.warning("a payment-code reverse had no answer at shutdown; settled at start")
            if self.payment_worker is not None:
                self.payment_worker.shutdown(wait=False, cancel_futures=True)
            if waits_ended:
                self.payments.close()
        self.virtual.stop()
        if self.label_virtual is not None:
            self.label_virtual.stop()
        self.engine.dispose()


def identity_from_settings(engine: Engine) -> TerminalIdentity:
    with write_session(engine) as session:
        settings = all_settings(session)
        if "store_code" not in settings or "terminal_id" not in settings:
            raise NotEnrolled("this terminal has no store yet")
        secret_hex = settings.get("receipt_secret")
        if not secret_hex:
            secret_hex = secrets.token_hex(32)
            set_setting(session, "receipt_secret", secret_hex)
            session.commit()
    return TerminalIdentity(
        settings["store_code"], settings["terminal_id"], bytes.fromhex(secret_hex)
    )


def credential_store_for(db_path: Path | str) -> CredentialStore | None:
    """The credential store of the terminal whose database is ``db_path`` (None in memory)."""
    if str(db_path) == ":memory:":
        return None
    return CredentialStore(Path(db_path).resolve().parent)


def build_terminal(
    db_path: Path | str,
    *,
    clock: Clock | None = None,
    printer: ReceiptPrinter | None = None,
    language: str | None = None,
    credential_store: CredentialStore | None = None,
    sync_config: SyncConfig | None = None,
    sync_runner: SyncRunner | None = None,
    sync_executor: Executor | None = None,
    verify: bool | str = True,
    start_devices: bool = True,
    print_retry: tuple[float, float] = (1.0, 15.0),
    payment_gateway: PaymentGateway | None = None,
    payment_poll_s: float = POLL_INTERVAL_S,
    payment_secrets: SecretLookup | None = None,
) -> Terminal:
    """Opens the database (migrating it) and wires the services and devices.

    An enrolled terminal (credentials found) gets its identity from them, a sync service
    and a member service, not yet started (:meth:`Terminal.start_sync`); a terminal never
    enrolled but set up locally (the standalone demo) sells without HQ or members.

    ``printer`` replaces the printer the device settings describe (tests).
    ``start_devices`` starts the print worker (it prints what is queued at once) and the
    serial scanners; benchmarks of the sale path turn it off. ``print_retry`` is the
    first and the longest wait between print retries, in seconds.
    ``payment_gateway`` replaces the gateway the store's ``payment.*`` settings describe;
    ``payment_poll_s`` is how often a charge waiting for the customer's password is asked
    about; ``payment_secrets`` replaces the keyring as the source of merchant secrets
    (the demo keeps its simulator secrets in a labelled file).
    """
    engine = open_database(db_path)
    # Every HQ setting is checked against the schema before anything reads it: a bad value
    # (however it got into the database) gives way to the last good one or the default,
    # is logged and reported to HQ, and the till starts all the same.
    checked = check_settings(engine)
    hq_clock = HqClock(clock or SystemClock())
    store = credential_store if credential_store is not None else credential_store_for(db_path)
    creds: Credentials | None = store.load() if store is not None else None
    if creds is not None:
        identity = TerminalIdentity(creds.store, creds.device_id, creds.receipt_secret)
    else:
        identity = identity_from_settings(engine)
    with read_session(engine) as session:
        settings = all_settings(session)
    settings.update(checked.values)
    translator = Translator(language or str(settings.get("language", DEFAULT_LANGUAGE)))
    sync: SyncService | None = None
    if creds is not None and store is not None:
        # The sync client (httpx, websockets) loads only for a terminal enrolled with HQ.
        from pos_app.services.sync import SyncService
        from sync_client import SyncConfig

        sync = SyncService(
            engine,
            creds,
            store,
            hq_clock,
            # The stock screen shows every store's levels: subscribe to all of them.
            config=sync_config or SyncConfig(stock="all"),
            runner=sync_runner,
            executor=sync_executor,
            verify=verify,
        )
    # The store's scale-label layouts, pushed from HQ (checked above: a bad one was
    # replaced by the last good layouts or the defaults).
    catalog = CatalogService(
        engine,
        hq_clock,
        identity.store_code,
        layouts_from_setting(checked.get(SCALE_LAYOUTS_KEY)),
    )
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terminal-worker")
    devices = DeviceBoard(hq_clock)
    device_settings = DeviceSettingsService(engine, hq_clock)
    virtual = VirtualPrinterHost()
    receipts = ReceiptService(
        engine, identity.store_code, settings.get("receipt_language", DEFAULT_LANGUAGE)
    )
    if printer is not None:
        fixed = printer
        factory: PrinterFactory = lambda: fixed  # noqa: E731
        printer_name = type(printer).__name__
    else:
        printer_settings = device_settings.printer()
        factory = printer_factory(printer_settings, virtual)
        printer_name = printer_settings.describe()
    printing = PrintQueue(
        engine,
        hq_clock,
        receipts,
        devices,
        factory,
        printer_name,
        retry_initial=print_retry[0],
        retry_max=print_retry[1],
    )
    if printer is None:
        device_settings.on_printer_saved(
            lambda s: printing.set_printer(printer_factory(s, virtual), s.describe())
        )
    scanners = ScannerHub(devices)
    # Restarting serial scanners joins their threads: never on the GUI thread.
    device_settings.on_scanners_saved(lambda s: executor.submit(scanners.configure, s))

    def after_commit(_sale: object) -> None:
        printing.wake()
        if sync is not None:
            sync.notify_outbox()
        executor.submit(checkpoint, engine)

    labels: CupLabelService | None = None
    label_virtual: VirtualPrinterHost | None = None
    label_settings = device_settings.label_printer()
    if label_settings is not None:
        label_virtual = VirtualPrinterHost()
        labels = CupLabelService(
            printer_factory(label_settings, label_virtual),
            devices,
            label_settings.describe(),
        )

    def after_sale(sale: object) -> None:
        after_commit(sale)
        if labels is not None:
            labels.sale_completed(sale)

    members: MemberService | None = None
    if sync is not None:
        from pos_app.services.members import MemberService

        link = sync
        members = MemberService(
            engine,
            hq_clock,
            identity,
            link.runner,
            hq=lambda: link.client.hq,
            online=lambda: link.status.online,
            phone_key=store.local_key(),
            revoked=lambda: link.status.state == "revoked",
            receipt_language=settings.get("receipt_language", DEFAULT_LANGUAGE),
            after_commit=after_commit,
            notify_outbox=link.notify_outbox,
        )
        member_service = members
        link.subscribe(on_status=lambda s: member_service.sync_status_changed(s.online))

    checkout = CheckoutService(
        engine,
        hq_clock,
        identity,
        catalog,
        CheckoutSettings(
            rounding=Rounding(checked.get("rounding")),
            discount_limit_bp=int(checked.values["discount_limit_bp"]),
            void_approval_above_fen=int(checked.values["void.approval_above_fen"]),
        ),
        after_commit=after_sale,
    )
    shifts = ShiftService(
        engine,
        hq_clock,
        identity,
        after_commit=lambda: after_commit(None),
        runner=sync.runner if sync is not None else None,
        hq=(lambda: sync.client.hq) if sync is not None else None,
        online=(lambda: sync.status.online) if sync is not None else (lambda: False),
    )
    auth = AuthService(engine, hq_clock, identity.store_code)
    gateway = payment_gateway
    if gateway is None:
        gateway = gateway_from_settings(settings, identity.store_code, payment_secrets)
    payments = PaymentService(engine, hq_clock, identity, gateway, poll_interval_s=payment_poll_s)
    payment_worker = (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="payments")
        if payments.available
        else None
    )
    returns = ReturnService(
        engine,
        hq_clock,
        identity,
        auth,
        runner=sync.runner if sync is not None else None,
        hq=(lambda: sync.client.hq) if sync is not None else None,
        online=(lambda: sync.status.online) if sync is not None else (lambda: False),
        receipt_language=settings.get("receipt_language", DEFAULT_LANGUAGE),
        gateway=payments if payments.available else None,
        after_commit=after_commit,
    )
    stock = StockService(
        engine,
        hq_clock,
        identity,
        catalog,
        runner=sync.runner if sync is not None else None,
        hq=(lambda: sync.client.hq) if sync is not None else None,
        online=(lambda: sync.status.online) if sync is not None else (lambda: False),
        after_commit=lambda: after_commit(None),
    )
    pickups = PickupService(
        engine,
        identity,
        checkout,
        runner=sync.runner if sync is not None else None,
        hq=(lambda: sync.client.hq) if sync is not None else None,
    )
    terminal = Terminal(
        engine=engine,
        clock=hq_clock,
        identity=identity,
        translator=translator,
        auth=auth,
        catalog=catalog,
        checkout=checkout,
        receipts=receipts,
        devices=devices,
        device_settings=device_settings,
        printing=printing,
        scanners=scanners,
        virtual=virtual,
        executor=executor,
        credential_store=store,
        sync=sync,
        members=members,
        shifts=shifts,
        returns=returns,
        stock=stock,
        payments=payments,
        pickups=pickups,
        payment_worker=payment_worker,
        menu=MenuService(engine, hq_clock, identity, catalog, checkout),
        labels=labels,
        label_virtual=label_virtual,
    )
    if start_devices:
        printing.start()
        if labels is not None:
            labels.start()
        scanners.configure(device_settings.scanners())
    return terminal


def build_window(terminal: Terminal) -> MainWindow:
    """Builds the main window and its UI context (GUI thread; QApplication must exist)."""
    from pos_app.ui.context import HardwareEvents, UiContext
    from pos_app.ui.main_window import MainWindow
    from pos_app.ui.sync_status import SyncBridge

    bridge = SyncBridge(terminal.sync, terminal.executor) if terminal.sync is not None else None
    ctx = UiContext(
        translator=terminal.translator,
        auth=terminal.auth,
        catalog=terminal.catalog,
        checkout=terminal.checkout,
        printing=terminal.printing,
        devices=terminal.devices,
        device_settings=terminal.device_settings,
        hardware=HardwareEvents(
            terminal.printing, terminal.devices, terminal.scanners, draw_receipt
        ),
        store_name=terminal.store_name,
        terminal_id=terminal.identity.terminal_id,
        sync=bridge,
        members=terminal.members,
        returns=terminal.returns,
        stock=terminal.stock,
        shifts=terminal.shifts,
        pickups=terminal.pickups,
        payments=terminal.payments if terminal.payment_worker is not None else None,
        payment_worker=terminal.payment_worker,
        menu=terminal.menu,
    )
    window = MainWindow(ctx)
    if bridge is not None:
        bridge.setParent(window)
    return window


def draw_receipt(data: bytes, profile: PrinterProfile) -> bytes:
    """PNG of ESC/POS bytes as ``profile``'s printer would print them (worker thread)."""
    from hardware import render_preview

    image = render_preview(data, profile, RECEIPT_FONT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def install_scan_filter(
    app: QApplication,
    window: MainWindow,
    clock: Callable[[], float],
    settings: ScannerSettings | None = None,
) -> ScanEventFilter:
    """Installs the application-wide keyboard-wedge filter and routes scans to the window.

    The key-gap threshold, prefix and suffix come from the scanner settings (read now
    when not given) and follow them when a manager saves new ones.
    """
    from pos_app.ui.scan_filter import ScanEventFilter

    classifier = wedge_classifier(clock, settings or window.ctx.device_settings.scanners())
    scan_filter = ScanEventFilter(classifier, app)
    window.scanner_settings_changed.connect(lambda new: apply_wedge_settings(classifier, new))
    scan_filter.scanned.connect(window.handle_wedge_scan)
    app.installEventFilter(scan_filter)
    return scan_filter


def wedge_classifier(clock: Callable[[], float], settings: ScannerSettings) -> ScanTimingClassifier:
    """The keyboard-wedge timing rule set up from the scanner settings."""
    from pos_app.ui.scan_filter import ScanTimingClassifier

    classifier = ScanTimingClassifier(clock=clock)
    apply_wedge_settings(classifier, settings)
    return classifier


def apply_wedge_settings(classifier: ScanTimingClassifier, settings: ScannerSettings) -> None:
    """Key gap, prefix and suffix from the settings (GUI thread, takes effect at once)."""
    classifier.threshold = settings.wedge_threshold_ms / 1000
    classifier.prefix, classifier.suffix = settings.prefix, settings.suffix


def run_gui(
    terminal: Terminal | list[Terminal],
    *,
    exit_when_ready: bool = False,
    started_at: float | None = None,
    argv: list[str] | None = None,
    on_ready: Callable[[list[MainWindow]], None] | None = None,
    customer_displays: bool = True,
) -> int:
    """Runs the Qt event loop with one window per terminal until they close.

    ``customer_displays``: open each till's customer display on a second screen when one
    is connected and the store setting allows (the chain demo opens them on request).

    Each enrolled terminal's sync starts once its window shows. Scans go to the window
    that has the focus. Returns the exit code.
    """
    import time

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from pos_app.ui.customer_display import open_customer_display
    from pos_app.ui.scan_filter import ScanEventFilter
    from pos_app.ui.theme import apply_theme

    terminals = terminal if isinstance(terminal, list) else [terminal]
    app = QApplication.instance() or QApplication(argv or ["chainpos"])
    assert isinstance(app, QApplication)
    apply_theme(app)
    windows = [build_window(t) for t in terminals]

    def route(code: str) -> None:
        active = app.activeWindow()
        target = next((w for w in windows if w is active), windows[0])
        target.handle_wedge_scan(code)

    # One filter for the application: the first terminal's scanner settings apply, and a
    # manager's change in any window takes effect at once.
    classifier = wedge_classifier(time.monotonic, terminals[0].device_settings.scanners())
    scan_filter = ScanEventFilter(classifier, app)
    for window in windows:
        window.scanner_settings_changed.connect(lambda new: apply_wedge_settings(classifier, new))
    scan_filter.scanned.connect(route)
    app.installEventFilter(scan_filter)
    displays = []
    for i, (t, window) in enumerate(zip(terminals, windows, strict=True)):
        if len(windows) > 1:
            window.resize(1100, 760)
            window.move(40 + i * 620, 40 + i * 60)
        window.show()
        if customer_displays:
            setting = _setting(t, "customer_display", "auto")
            display = open_customer_display(window, setting, i)
            if display is not None:
                displays.append(display)
        t.start_sync()

    def ready() -> None:
        # First idle turn of the event loop after the windows show: ready to scan.
        # The catalogue is touched once so the first real scan finds its pages warm.
        for t in terminals:
            t.catalog.search("0")
        if started_at is not None:
            print(f"ready {time.perf_counter() - started_at:.3f}s", flush=True)
        if on_ready is not None:
            on_ready(windows)
        if exit_when_ready:
            app.quit()

    QTimer.singleShot(0, ready)
    previous = _quit_on_interrupt(app)
    # Qt's event loop runs no Python while idle: a tick lets a Ctrl+C handler run soon.
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    try:
        return app.exec()
    finally:
        tick.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        app.removeEventFilter(scan_filter)
        for display in displays:
            display.close()
        for window in windows:
            window.close()
        for t in terminals:
            t.close()


def _setting(terminal: Terminal, key: str, default: object) -> object:
    """One store setting of the terminal's database (``default`` when it is not set)."""
    with read_session(terminal.engine) as session:
        return all_settings(session).get(key, default)


def _quit_on_interrupt(app: QApplication) -> dict[int, Any]:
    """Ctrl+C (SIGINT) and SIGTERM end the event loop as closing the windows does, so
    the caller's clean-up runs (tills closed, HQ and simulators stopped). Returns the
    handlers it replaced (none off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupted(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        app.quit()

    return {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}


def enroll_gui(
    db_path: Path | str,
    *,
    language: str | None = None,
    credential_store: CredentialStore | None = None,
    verify: bool | str = True,
    argv: list[str] | None = None,
) -> bool:
    """Shows the enrolment screen until the terminal is enrolled (True) or closed (False)."""
    import time

    from PySide6.QtWidgets import QApplication

    from pos_app.services.enrollment import EnrollmentService
    from pos_app.ui.enroll_screen import EnrollScreen
    from pos_app.ui.scan_filter import ScanEventFilter, ScanTimingClassifier
    from pos_app.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(argv or ["chainpos"])
    assert isinstance(app, QApplication)
    apply_theme(app)
    store = credential_store or credential_store_for(db_path)
    assert store is not None, "enrolment needs a database file"
    engine = open_database(db_path)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enroll")
    service = EnrollmentService(engine, store, verify=verify)
    screen = EnrollScreen(Translator(language or DEFAULT_LANGUAGE), service.enroll, executor)
    scan_filter = ScanEventFilter(ScanTimingClassifier(clock=time.monotonic), app)
    scan_filter.scanned.connect(screen.handle_scan)
    app.installEventFilter(scan_filter)
    done = {"ok": False}

    def finished(_result: object) -> None:
        done["ok"] = True
        screen.close()

    screen.enrolled.connect(finished)
    screen.resize(1024, 700)
    screen.show()
    try:
        app.exec()
    finally:
        app.removeEventFilter(scan_filter)
        executor.shutdown(wait=True)
        engine.dispose()
    return done["ok"]


def default_data_dir() -> Path:
    env = os.environ.get("CHAINPOS_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("chainpos"))
