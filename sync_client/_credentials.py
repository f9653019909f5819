"""Where a terminal keeps its device token, receipt secret and local key.

The local key (32 random bytes, made at first need by :meth:`CredentialStore.local_key`)
keys what the terminal encrypts for itself alone, such as queued members' phone numbers;
it never leaves the terminal, so HQ's copy of the receipt secret cannot open those.

In the operating system's keyring when it has one (Secret Service, KWallet, macOS
Keychain, Windows Credential Locker). Where none exists (a kiosk without a desktop
session), in a file readable only by the terminal's user, and every screen that shows
the storage says plainly that the file is not encrypted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sync_client._errors import CredentialsError

FILE_NAME = "device-credentials.json"
LOCAL_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Credentials:
    """A terminal's identity at HQ."""

    hq_url: str
    store: str
    device_id: str
    token: str
    receipt_secret: bytes
    local_key: bytes | None = None

    def to_json(self) -> str:
        d = {
            "hq_url": self.hq_url,
            "store": self.store,
            "device_id": self.device_id,
            "token": self.token,
            "receipt_secret": base64.b64encode(self.receipt_secret).decode(),
        }
        if self.local_key is not None:
            d["local_key"] = base64.b64encode(self.local_key).decode()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> Credentials:
        try:
            d = json.loads(text)
            return cls(
                hq_url=str(d["hq_url"]),
                store=str(d["store"]),
                device_id=str(d["device_id"]),
                token=str(d["token"]),
                receipt_secret=base64.b64decode(d["receipt_secret"], validate=True),
                local_key=(
                    base64.b64decode(d["local_key"], validate=True)
                    if d.get("local_key") is not None
                    else None
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(f"stored credentials are unreadable: {exc}") from None


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - keyring is a dependency
        return False
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    try:
        from keyring.backends import chainer

        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            return False
    except ImportError:  # pragma: no cover
        pass
    return True


class CredentialStore:
    """The credentials of the terminal whose data lives in ``data_dir``.

    Args:
        data_dir: the terminal's data folder; it names the keyring entry (several terminals
            on one machine, as in the demo, keep separate entries) and holds the fallback
            file.
        use_keyring: force the keyring (True) or the file (False); default: the keyring
            when the system has a usable backend.
    """

    SERVICE = "chainpos"

    def __init__(self, data_dir: Path, *, use_keyring: bool | None = None) -> None:
        self.data_dir = data_dir
        self.path = data_dir / FILE_NAME
        digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
        self.account = f"device:{digest}"
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring

    @property
    def encrypted(self) -> bool:
        return self.use_keyring

    def describe(self) -> str:
        """Where the credentials are, for the status details screen."""
        if self.use_keyring:
            import keyring

            return f"keyring: {type(keyring.get_keyring()).__name__} ({self.account})"
        return f"file, NOT encrypted: {self.path}"

    def load(self) -> Credentials | None:
        if self.use_keyring:
            import keyring
            from keyring.errors import KeyringError

            try:
                text = keyring.get_password(self.SERVICE, self.account)
            except KeyringError as exc:
                raise CredentialsError(f"keyring unavailable: {exc}") from None
            return None if text is None else Credentials.from_json(text)
        try:
            text = self.path.read_text(encoding="utf-8")
            _owner_only(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CredentialsError(f"cannot read {self.path}: {exc}") from None
        return Credentials.from_json(text)

    def save(self, creds: Credentials) -> None:
        if self.use_keyring:
            import keyring
            from keyring.errors import KeyringError

            try:
                keyring.set_password(self.SERVICE, self.account, creds.to_json())
                return
            except KeyringError as exc:
                raise CredentialsError(f"keyring refused the credentials: {exc}") from None
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(creds.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise CredentialsError(f"cannot write {self.path}: {exc}") from None

    def local_key(self) -> bytes:
        """The terminal's local key, made (32 random bytes) and saved with the
        credentials on first need.

        Raises:
            CredentialsError: no credentials stored (not enrolled), or storage failed.
        """
        creds = self.load()
        if creds is None:
            raise CredentialsError("no device credentials: enrol this terminal first")
        if creds.local_key is not None:
            return creds.local_key
        key = secrets.token_bytes(LOCAL_KEY_BYTES)
        self.save(dataclasses.replace(creds, local_key=key))
        return key

    def clear(self) -> None:
        if self.use_keyring:
            import keyring
            from keyring.errors import KeyringError, PasswordDeleteError

            try:
                keyring.delete_password(self.SERVICE, self.account)
            except PasswordDeleteError:
                pass
            except KeyringError as exc:
                raise CredentialsError(f"keyring unavailable: {exc}") from None
            return
        self.path.unlink(missing_ok=True)


def _owner_only(path: Path) -> None:
    """Tightens a credentials file an older version (or a copy) left readable by others."""
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
