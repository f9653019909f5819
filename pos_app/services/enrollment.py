"""Enrolling a terminal with HQ: one-time code in, device identity and first data copy out.

Runs off the GUI thread (it talks to HQ). The credentials are stored before anything else,
because HQ spends the code when it answers: a terminal that crashes right after still knows
who it is, and its first sync fetches what the snapshot here could not.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from pos_app.localdb.engine import write_session
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.store import set_setting
from sync_client import (
    Credentials,
    CredentialStore,
    EnrollmentError,
    HQClient,
    SyncError,
    Verify,
    enroll,
)

log = logging.getLogger("chainpos.enroll")


@dataclass(frozen=True, slots=True)
class EnrollTicket:
    """What a store needs to enrol a terminal: HQ's address, the store, the one-time code."""

    hq_url: str
    store: str
    code: str


def parse_enroll_qr(payload: str) -> EnrollTicket:
    """Reads the QR code ``chainpos-hq device enroll-code`` prints.

    Raises:
        EnrollmentError: ``bad_qr`` when the text is not an enrolment code.
    """
    try:
        d = json.loads(payload)
        if not isinstance(d, dict) or d.get("chainpos") != "enroll" or d.get("v") != 1:
            raise ValueError("not a ChainPOS enrolment code")
        ticket = EnrollTicket(str(d["hq"]), str(d["store"]), str(d["code"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise EnrollmentError("bad_qr", f"not an enrolment QR code: {exc}") from None
    if not ticket.hq_url.startswith(("http://", "https://")):
        raise EnrollmentError("bad_qr", "the QR code carries no HQ address")
    return ticket


@dataclass(frozen=True, slots=True)
class EnrollResult:
    credentials: Credentials
    synced: bool
    """Whether the first copy of HQ's data arrived (else the first sync fetches it)."""
    detail: str = ""


class EnrollmentService:
    """Enrols the terminal whose database is ``engine``."""

    def __init__(
        self,
        engine: Engine,
        credential_store: CredentialStore,
        *,
        verify: Verify = True,
        allow_insecure_hq: bool | None = None,
    ) -> None:
        """``allow_insecure_hq``: enrol with a plain ``http://`` HQ on another machine (a
        lab only); None: when ``CHAINPOS_ALLOW_INSECURE_HQ=1`` is set. Loopback HQs (the
        demo) are always allowed."""
        self.engine = engine
        self.credential_store = credential_store
        self.verify = verify
        self.allow_insecure_hq = allow_insecure_hq

    def enroll(self, ticket: EnrollTicket, device_name: str) -> EnrollResult:
        """Blocking: call on a worker thread.

        Raises:
            EnrollmentError: HQ refused or could not be reached, or its address is not
                trusted (``insecure_address``: plain HTTP to another machine); nothing
                was stored.
        """
        hq_url = ticket.hq_url.strip().rstrip("/")
        if not hq_url.startswith(("http://", "https://")):
            raise EnrollmentError("bad_address", "HQ's address starts with https:// (or http://)")
        answer = enroll(
            hq_url,
            ticket.store.strip().upper(),
            ticket.code,
            device_name,
            verify=self.verify,
            allow_insecure=self.allow_insecure_hq,
        )
        creds = Credentials(
            hq_url=hq_url,
            store=answer.store,
            device_id=answer.device_id,
            token=answer.token,
            receipt_secret=base64.b64decode(answer.receipt_secret),
        )
        self.credential_store.save(creds)
        offset_ms = (answer.hq_time - datetime.now(UTC)).total_seconds() * 1000
        with write_session(self.engine) as s:
            set_setting(s, "store_code", creds.store)
            set_setting(s, "terminal_id", creds.device_id)
            set_setting(s, "hq_url", hq_url)
            set_setting(s, "device_name", device_name)
            set_setting(s, "sync.clock_offset_ms", round(offset_ms, 3))
            # HQ holds the receipt secret now; a locally made one must not linger.
            s.execute(text("DELETE FROM setting WHERE key = 'receipt_secret'"))
            s.commit()
        try:
            asyncio.run(self._first_copy(creds))
        except SyncError as exc:
            log.warning("enrolled as %s; first data copy failed: %s", creds.device_id, exc)
            return EnrollResult(creds, False, str(exc))
        return EnrollResult(creds, True)

    async def _first_copy(self, creds: Credentials) -> None:
        client = HQClient(creds.hq_url, creds.token, verify=self.verify, timeout=60)
        try:
            snap = await client.snapshot()
        finally:
            await client.aclose()
        await asyncio.to_thread(LocalReplica(self.engine, creds.store).apply_snapshot, snap)
