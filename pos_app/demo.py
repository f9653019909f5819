"""The chain demo: an embedded HQ and two terminals of two stores, on one machine.

Everything a newcomer needs runs in one process: HQ (the real app on uvicorn, SQLite in the
demo folder) seeded with the milk-tea chain, and terminals S001-T01 and S002-T01, each
enrolled with a one-time code exactly as a store would, each with its own database, sync
client and virtual printer. A sale in one window moves that store's stock at HQ; a price
set with ``chainpos-hq price set`` reaches both windows.

The payment gateway simulator runs beside HQ (``server_stub.paysim``); both stores take
WeChat Pay, Alipay and UnionPay payment codes through the real adapters against it
(``payment.simulator`` on). Like the terminals' credentials, the demo's merchant secrets
are kept in labelled files in the demo folder rather than the desktop's keyring.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pos_app.app import Terminal, build_terminal
from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import load_demo_json
from pos_app.localdb.store import set_setting
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from server_stub import operations
from server_stub.demo import DemoMember, seed_chain, seed_members
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.paysim.merchants import provision
from server_stub.paysim.server import EmbeddedPaysim
from server_stub.settings import Settings
from sync_client import CredentialStore, SyncRunner

DEMO_STORES = ("S001", "S002")


def hq_command() -> str:
    """How the guide's HQ commands start: ``installer/run hq`` in a clone of the
    repository (a fresh clone has no ``chainpos-hq`` on its PATH: the venv's scripts are
    not there), relative to the folder the demo started in when it is inside the clone;
    ``chainpos-hq`` for an installed package."""
    run = Path(__file__).resolve().parents[1] / "installer" / "run"
    if not run.exists():
        return "chainpos-hq"
    try:
        return f"{run.relative_to(Path.cwd().resolve())} hq"
    except ValueError:
        return f"{run} hq"


DEMO_PAYCODES = (
    ("134567890123456789", "WeChat Pay: paid at once"),
    ("134567890123450000", "WeChat Pay: asks for the password, then paid"),
    ("134567890123450001", "WeChat Pay: asks for the password until you cancel"),
    ("134567890123450002", "WeChat Pay: declined (balance)"),
    ("281234567890123456", "Alipay: paid at once"),
    ("6212345678901234567", "UnionPay: paid at once"),
)
"""Codes to type into the payment screen (a code pays once: change the middle digits to
pay again; the last four digits choose what happens, see server_stub.paysim.ledger)."""


@dataclass
class ChainDemo:
    hq: EmbeddedHQ
    hq_db_url: str
    runner: SyncRunner
    terminals: list[Terminal]
    members: list[DemoMember]
    paysim: EmbeddedPaysim | None = None
    data_dir: Path | None = None
    hq_running: bool = True
    """False between :meth:`stop_hq` and :meth:`start_hq` (the tills work offline)."""
    controls: Any = None
    """The demo controls window, once shown (:func:`show_controls`)."""

    def close(self) -> None:
        for t in self.terminals:
            t.close()
        self.runner.stop()
        if self.hq_running:
            self.hq.stop()
        if self.paysim is not None:
            self.paysim.stop()

    def stop_hq(self) -> None:
        """Stops HQ as a power cut at head office would: the tills go offline and keep
        selling; their events wait in the outbox (blocking: a worker thread calls it)."""
        if self.hq_running:
            self.hq.stop()
            self.hq_running = False

    def start_hq(self) -> None:
        """Starts HQ again on the same database and port: the tills reconnect by
        themselves and send what waited (blocking)."""
        if not self.hq_running:
            port = urlsplit(self.hq.url).port
            self.hq = EmbeddedHQ(replace(self.hq.settings, port=port or 0)).start()
            self.hq_running = True


def _secrets_file(tdir: Path) -> Path:
    return tdir / "demo-payment-secrets.json"


def configure_payments(tdir: Path, store: str, sim: EmbeddedPaysim) -> None:
    """Registers the store's merchants with the simulator and points its till at it."""
    accounts = provision(sim.data_dir, store)
    providers = [{**a.settings, "base_url": sim.url} for a in accounts.values()]
    path = _secrets_file(tdir)
    path.write_text(
        json.dumps(
            {
                "_note": "demo merchant secrets for the payment gateway simulator only",
                **{w: a.secret for w, a in accounts.items()},
            }
        ),
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    engine = open_database(tdir / "terminal.db")
    try:
        with write_session(engine) as session:
            set_setting(session, "payment.providers", json.dumps(providers))
            set_setting(session, "payment.simulator", True)
            session.commit()
    finally:
        engine.dispose()


def file_secrets(tdir: Path):  # type: ignore[no-untyped-def]
    """The demo's stand-in for the keyring: ``(store, wallet) -> secret`` from the file."""

    def lookup(_store: str, wallet: str) -> Mapping[str, str] | None:
        try:
            data = json.loads(_secrets_file(tdir).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        found = data.get(wallet)
        return found if isinstance(found, dict) else None

    return lookup


def _terminal_dir(data_dir: Path, store: str) -> Path:
    return data_dir / f"terminal-{store}"


def prepare(
    data_dir: Path, *, fresh: bool = False, language: str | None = None, hq_port: int = 0
) -> ChainDemo:
    """Starts HQ, seeds it on first use, enrols (or reopens) the demo terminals."""
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    hq_db_url = f"sqlite:///{(data_dir / 'hq.sqlite3').resolve()}"
    hq = EmbeddedHQ(
        Settings(db_url=hq_db_url, port=hq_port, live=LiveSettings(heartbeat_s=5.0))
    ).start()
    runner = SyncRunner("demo-sync")
    terminals: list[Terminal] = []
    paysim: EmbeddedPaysim | None = None
    try:
        paysim = EmbeddedPaysim(data_dir / "paysim", hold_s=20.0).start()
        if seed_chain(hq.db, load_demo_json()):
            print(f"HQ: created the demo chain in {data_dir / 'hq.sqlite3'}", flush=True)
        assert hq.keys is not None
        demo_members = seed_members(hq.db, hq.keys)
        runner.start()
        for store in DEMO_STORES:
            tdir = _terminal_dir(data_dir, store)
            # The demo keeps credentials in labelled files, not in the desktop's keyring.
            creds_store = CredentialStore(tdir, use_keyring=False)
            creds = creds_store.load()
            if creds is None:
                code = operations.create_enroll_code(hq.db, store).code
                engine = open_database(tdir / "terminal.db")
                try:
                    result = EnrollmentService(engine, creds_store).enroll(
                        EnrollTicket(hq.url, store, code), f"{store} 1号收银机"
                    )
                    with write_session(engine) as session:
                        set_setting(session, "rounding", "jiao")
                        session.commit()
                finally:
                    engine.dispose()
                print(f"{store}: enrolled as {result.credentials.device_id}", flush=True)
            elif creds.hq_url != hq.url:
                # The embedded HQ listens on a new port each run.
                creds_store.save(replace(creds, hq_url=hq.url))
            # The simulator listens on a new port each run too.
            configure_payments(tdir, store, paysim)
            terminals.append(
                build_terminal(
                    tdir / "terminal.db",
                    language=language,
                    credential_store=creds_store,
                    sync_runner=runner,
                    payment_secrets=file_secrets(tdir),
                )
            )
    except BaseException:
        for t in terminals:
            t.close()
        runner.stop()
        hq.stop()
        if paysim is not None:
            paysim.stop()
        raise
    return ChainDemo(hq, hq_db_url, runner, terminals, demo_members, paysim, data_dir)


def print_guide(demo: ChainDemo) -> None:
    data = load_demo_json()
    print(f"HQ is running at {demo.hq.url}", flush=True)
    if demo.data_dir is not None:
        print(f"Demo data (HQ and both tills; --fresh starts again): {demo.data_dir}")
    for store in DEMO_STORES:
        print(f"Staff of {store} (number / PIN / role):")
        for p in data["staff"]:
            if p["store"] == store:
                print(f"  {p['number']} / {p['pin']} / {p['role']}  {p['name']}")
    hq_cmd = f"{hq_command()} --db {demo.hq_db_url}"
    print("Try, in another terminal window:")
    print(f"  {hq_cmd} price set FT001 18            # 杨枝甘露(大) to ¥18 on both tills")
    print(f"  {hq_cmd} stock show MT001              # 芋泥波波 stock per store")
    print(f"  {hq_cmd} device list")
    print("Members (scan, or type/paste the card code into the scan field and press Enter):")
    for mb in demo.members:
        print(f"  {mb.name} {mb.phone}  card code {mb.card_code}")
    print(f"  {hq_cmd} member qr <number>   # a member app code, as a QR code", flush=True)
    if demo.paysim is not None:
        print(f"Payment codes (gateway simulator at {demo.paysim.url}); on the payment screen:")
        for code, what in DEMO_PAYCODES:
            print(f"  {code}  {what}")
        print("  (a code pays once: change a middle digit to use it again)", flush=True)
    print(
        "The demo controls window stops and restarts HQ (the tills go offline) and runs a"
        " printer out of paper. Ctrl+C here stops the demo.",
        flush=True,
    )


def show_controls(chain: ChainDemo, terminals: list[Terminal], windows: list[Any]) -> Any:
    """Opens the demo controls window beside the tills (GUI thread) and returns it."""
    from PySide6.QtWidgets import QApplication

    from pos_app.ui.customer_display import CustomerDisplay
    from pos_app.ui.demo_controls import DemoControls

    printers = {t.identity.store_code: t.virtual_printer for t in terminals}
    tills = dict(zip(printers, windows, strict=False))
    displays: dict[str, CustomerDisplay] = {}

    def toggle_display(store: str) -> bool:
        """Opens the till's customer display as an ordinary window beside it, or closes
        it; True when it is open."""
        if store in displays:
            displays.pop(store).close()
            return False
        display = CustomerDisplay(tills[store])
        display.setWindowTitle(f"{display.windowTitle()} {store}")
        display.resize(720, 480)
        geometry = tills[store].frameGeometry()
        display.move(geometry.left() + 40, geometry.bottom() - 480)
        display.show()
        displays[store] = display
        return True

    controls = DemoControls(
        terminals[0].translator,
        chain,
        lambda: chain.hq.url,
        printers,
        lambda store: printers[store].status().paper_out,
        customer_display=toggle_display if tills else None,
    )
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(controls.close)
        app.aboutToQuit.connect(lambda: [d.close() for d in list(displays.values())])
    if windows:
        geometry = windows[-1].frameGeometry()
        controls.move(geometry.right() + 10, geometry.top())
    controls.show()
    chain.controls = controls  # kept while the demo runs
    return controls
