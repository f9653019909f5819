"""``chainpos-hq member …``, ``keys`` and ``audit``, run the way HQ staff run them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from server_stub.cli import main
from server_stub.member_keys import KeysError, MemberKeys, resolve_keys
from sync_client.contract.membercode import verify_member_code
from tests.server.member_helpers import new_phone


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "hq-keys.json"
    assert main(["keys", "generate", "--out", str(path)]) == 0
    return path


def run(capsys, db_url: str, keys_file: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--db", db_url, "--keys", str(keys_file)])
    out, err = capsys.readouterr()
    return code, out, err


def test_member_commands(db_url, keys_file, capsys, monkeypatch):
    """GIVEN HQ staff at a shell WHEN they add a member, find her by phone, show her, print
    her member code and card code, adjust her balances and give her a coupon THEN each
    command says what it did, phones stay masked unless revealed, the printed codes verify
    with HQ's keys, and every step is in the audit log."""
    monkeypatch.delenv("CHAINPOS_HQ_KEYS", raising=False)
    keys = MemberKeys.load(keys_file)
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    phone = new_phone()
    masked = f"{phone[:3]}****{phone[-4:]}"
    code, out, _ = run(
        capsys,
        db_url,
        keys_file,
        "member",
        "add",
        "--name",
        "周芷若",
        "--phone",
        phone,
        "--tier",
        "gold",
        "--consent",
        "paper-2025",
    )
    assert code == 0 and masked in out
    number = re.search(r"member (\d{12}) added", out).group(1)
    code, _, err = run(
        capsys,
        db_url,
        keys_file,
        "member",
        "add",
        "--name",
        "x",
        "--phone",
        phone,
        "--consent",
        "paper-2025",
    )
    assert code == 1 and "already a member" in err

    code, out, _ = run(capsys, db_url, keys_file, "member", "search", "--phone", phone)
    assert code == 0 and out.startswith(f"{number}\t周芷若\t{masked}\tgold")
    code, out, _ = run(capsys, db_url, keys_file, "member", "search", "--name", "周芷")
    assert number in out

    code, out, _ = run(
        capsys,
        db_url,
        keys_file,
        "member",
        "adjust",
        number,
        "--points",
        "1280",
        "--balance",
        "12.50",
        "--reason",
        "迁移",
    )
    assert code == 0 and "points 1280  stored value 12.50 yuan" in out
    code, _, err = run(
        capsys,
        db_url,
        keys_file,
        "member",
        "adjust",
        number,
        "--points",
        "-2000",
        "--reason",
        "oops",
    )
    assert code == 1 and "below zero" in err
    code, out, _ = run(
        capsys,
        db_url,
        keys_file,
        "member",
        "coupon",
        number,
        "--name",
        "满30减5",
        "--value",
        "5",
        "--min-spend",
        "30",
    )
    assert code == 0 and "5.00 yuan off" in out

    code, out, _ = run(capsys, db_url, keys_file, "member", "show", number)
    assert code == 0 and masked in out and phone not in out and "满30减5" in out
    assert "ledger sums: points 1280, stored value 12.50" in out
    code, out, _ = run(capsys, db_url, keys_file, "member", "show", number, "--reveal")
    assert phone in out

    code, out, _ = run(capsys, db_url, keys_file, "member", "qr", number, "--ttl", "120")
    assert code == 0 and "▀" in out
    app = re.search(r"^(CPM1\.\S+)$", out, re.MULTILINE).group(1)
    got = verify_member_code(app, keys.member_code, int(time.time()))
    assert got.number == number and got.expires is not None
    assert got.expires - time.time() == pytest.approx(120, abs=5)
    code, out, _ = run(capsys, db_url, keys_file, "member", "qr", number, "--new-card")
    card = re.search(r"^(CPC1\.\S+)$", out, re.MULTILINE).group(1)
    assert verify_member_code(card, keys.member_code, 0).card == 2

    code, out, _ = run(capsys, db_url, keys_file, "member", "sweep-holds")
    assert code == 0 and "expired holds given back" in out
    code, out, _ = run(capsys, db_url, keys_file, "audit", "list", "--member", number)
    for action in ("member.add", "member.adjust", "member.coupon", "member.show", "member.code"):
        assert action in out
    assert phone not in out and "cli:" in out
    code, _, err = run(capsys, db_url, keys_file, "member", "show", "800000000000")
    assert code == 1 and "no member" in err


def test_keys_are_required_where_they_cannot_be_made_up(tmp_path, monkeypatch, capsys):
    """A PostgreSQL HQ (or one marked production) without a keys file refuses with a
    message that says how to make one; a SQLite HQ makes its own beside its database,
    once, readable by its owner only."""
    monkeypatch.delenv("CHAINPOS_HQ_KEYS", raising=False)
    monkeypatch.delenv("CHAINPOS_HQ_ENV", raising=False)
    with pytest.raises(KeysError, match="keys generate"):
        resolve_keys("postgresql+psycopg://hq@db/chainpos")
    db = tmp_path / "hq.sqlite3"
    first = resolve_keys(f"sqlite:///{db}")
    assert resolve_keys(f"sqlite:///{db}") == first
    assert oct((tmp_path / "hq.sqlite3.keys").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("CHAINPOS_HQ_ENV", "production")
    with pytest.raises(KeysError):
        resolve_keys(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    code = main(["member", "show", "800000000000", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}"])
    assert code == 1 and "member keys are not configured" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(KeysError, match="not a ChainPOS keys file"):
        resolve_keys("postgresql+psycopg://hq@db/chainpos", bad)


@pytest.mark.slow  # starts an embedded HQ
def test_the_embedded_hq_and_the_cli_share_the_member_keys(tmp_path, monkeypatch, capsys):
    """GIVEN the demo's embedded HQ on a SQLite file WHEN HQ staff add a member with the CLI
    on the same file THEN a code signed with the keys beside the file identifies her at the
    embedded HQ, with her phone decrypted and masked."""
    import httpx

    from server_stub import operations
    from server_stub.embedded import EmbeddedHQ
    from server_stub.settings import Settings
    from tests.server.member_helpers import app_code

    monkeypatch.delenv("CHAINPOS_HQ_KEYS", raising=False)
    monkeypatch.delenv("CHAINPOS_HQ_ENV", raising=False)
    url = f"sqlite:///{tmp_path / 'hq.sqlite3'}"
    hq = EmbeddedHQ(Settings(db_url=url, port=0, hold_sweep_s=0)).start()
    try:
        phone = new_phone()
        assert (
            main(
                [
                    "member",
                    "add",
                    "--name",
                    "王芳",
                    "--phone",
                    phone,
                    "--consent",
                    "v1",
                    "--db",
                    url,
                ]
            )
            == 0
        )
        number = re.search(r"member (\d{12}) added", capsys.readouterr().out).group(1)
        operations.add_store(hq.db, "E001", "店")
        code = operations.create_enroll_code(hq.db, "E001").code
        token = httpx.post(
            hq.url + "/v1/devices/enroll",
            json={"store": "E001", "code": code, "device_name": "t"},
        ).json()["token"]
        keys = MemberKeys.load(tmp_path / "hq.sqlite3.keys")
        r = httpx.post(
            hq.url + "/v1/members/identify",
            json={"code": app_code(keys, number)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["phone_masked"] == f"{phone[:3]}****{phone[-4:]}"
    finally:
        hq.stop()
