"""The chain demo: an embedded HQ and two terminals of two stores, on one machine.

Everything a newcomer needs runs in one process: HQ (the real app on uvicorn, SQLite in the
demo folder) seeded with the milk-tea chain, and terminals S001-T01 and S002-T01, each
enrolled with a one-time code exactly as a store would, each with its own database, sync
client and virtual printer. A sale in one window moves that store's stock at HQ; a price
set with ``chainpos-hq price set`` reaches both windows.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from pos_app.app import Terminal, build_terminal
from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import load_demo_json
from pos_app.localdb.store import set_setting
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from server_stub import operations
from server_stub.demo import DemoMember, seed_chain, seed_members
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.settings import Settings
from sync_client import CredentialStore, SyncRunner

DEMO_STORES = ("S001", "S002")


@dataclass
class ChainDemo:
    hq: EmbeddedHQ
    hq_db_url: str
    runner: SyncRunner
    terminals: list[Terminal]
    members: list[DemoMember]

    def close(self) -> None:
        for t in self.terminals:
            t.close()
        self.runner.stop()
        self.hq.stop()


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
    try:
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
            terminals.append(
                build_terminal(
                    tdir / "terminal.db",
                    language=language,
                    credential_store=creds_store,
                    sync_runner=runner,
                )
            )
    except BaseException:
        for t in terminals:
            t.close()
        runner.stop()
        hq.stop()
        raise
    return ChainDemo(hq, hq_db_url, runner, terminals, demo_members)


def print_guide(demo: ChainDemo) -> None:
    data = load_demo_json()
    print(f"HQ is running at {demo.hq.url}", flush=True)
    for store in DEMO_STORES:
        print(f"Staff of {store} (number / PIN / role):")
        for p in data["staff"]:
            if p["store"] == store:
                print(f"  {p['number']} / {p['pin']} / {p['role']}  {p['name']}")
    hq_cmd = f"chainpos-hq --db {demo.hq_db_url}"
    print("Try, in another terminal window:")
    print(f"  {hq_cmd} price set FT001 18            # 杨枝甘露(大) to ¥18 on both tills")
    print(f"  {hq_cmd} stock show MT001              # 芋泥波波 stock per store")
    print(f"  {hq_cmd} device list")
    print("Members (scan, or type/paste the card code into the scan field and press Enter):")
    for mb in demo.members:
        print(f"  {mb.name} {mb.phone}  card code {mb.card_code}")
    print(f"  {hq_cmd} member qr <number>   # a member app code, as a QR code", flush=True)
