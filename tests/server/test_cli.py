"""``chainpos-hq`` admin commands, run the way HQ staff run them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from server_stub import auth, operations
from server_stub import models as m
from server_stub.cli import main
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from sync_client.contract import protocol as p
from sync_client.contract.pin import verify_pin
from tests.server.conftest import REPO
from tests.server.helpers import counts, level


@pytest.fixture(scope="module")
def db(db_url: str):
    database = Database(db_url)
    yield database
    database.dispose()


def run(capsys: pytest.CaptureFixture[str], db_url: str, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out, err


def test_store_and_staff_commands(db_url, db, capsys):
    code, out, _ = run(capsys, db_url, "store", "add", "C001", "人民广场店")
    assert code == 0 and "C001" in out
    code, _, err = run(capsys, db_url, "store", "add", "C001", "again")
    assert code == 1 and "already exists" in err
    code, out, _ = run(capsys, db_url, "store", "list")
    assert "C001\t人民广场店\tactive" in out

    code, out, _ = run(
        capsys,
        db_url,
        "staff",
        "add",
        "--store",
        "C001",
        "--number",
        "1001",
        "--name",
        "王芳",
        "--role",
        "cashier",
        "--pin",
        "1234",
    )
    assert code == 0
    with db.read() as conn:
        pin_hash = conn.execute(
            select(m.staff.c.pin_hash).where(m.staff.c.number == "1001")
        ).scalar_one()
    scheme, n, r, par, salt, digest = pin_hash.split("$")
    assert (scheme, n, r, par) == ("scrypt", "16384", "8", "1")
    assert hashlib.scrypt(
        b"1234", salt=base64.b64decode(salt), n=16384, r=8, p=1, dklen=len(base64.b64decode(digest))
    ) == base64.b64decode(digest)
    code, _, err = run(
        capsys,
        db_url,
        "staff",
        "add",
        "--store",
        "C001",
        "--number",
        "1002",
        "--name",
        "李雷",
        "--role",
        "cashier",
        "--pin",
        "12",
    )
    assert code == 1 and "pin" in err.lower()
    assert run(capsys, db_url, "staff", "set-pin", "1001", "--pin", "8888")[0] == 0
    assert run(capsys, db_url, "staff", "disable", "1001")[0] == 0
    code, out, _ = run(capsys, db_url, "staff", "list", "--store", "C001")
    assert "1001\tC001\t王芳\tcashier\tinactive" in out
    with db.read() as conn:
        new_hash = conn.execute(
            select(m.staff.c.pin_hash).where(m.staff.c.number == "1001")
        ).scalar_one()
    assert verify_pin("8888", new_hash)


def test_enroll_code_prints_a_code_and_qr_that_enrol_a_terminal(db_url, db, capsys):
    assert run(capsys, db_url, "store", "add", "C002", "静安寺店")[0] == 0
    code, out, _ = run(
        capsys,
        db_url,
        "device",
        "enroll-code",
        "--store",
        "C002",
        "--hq-url",
        "https://hq.example.cn:8443",
    )
    assert code == 0
    typed = re.search(r"enrolment code for C002: ([A-Z0-9]{4}-[A-Z0-9]{4})", out).group(1)
    assert "█" in out or "▀" in out  # the QR, drawn with block characters
    payload = json.loads(out.strip().splitlines()[-1])
    assert payload == {
        "chainpos": "enroll",
        "v": 1,
        "hq": "https://hq.example.cn:8443",
        "store": "C002",
        "code": typed,
    }
    device = operations.enroll(
        db, MemberKeys.generate(), p.EnrollRequest(store="C002", code=typed, device_name="1号机")
    )
    assert device.device_id == "C002-T01"
    code, out, _ = run(capsys, db_url, "device", "list", "--store", "C002")
    assert "C002-T01\t1号机\tactive" in out
    assert run(capsys, db_url, "device", "revoke", "C002-T01")[0] == 0
    code, out, _ = run(capsys, db_url, "device", "list", "--store", "C002")
    assert "C002-T01\t1号机\trevoked" in out
    code, _, err = run(capsys, db_url, "device", "enroll-code", "--store", "NOPE")
    assert code == 1 and "no store NOPE" in err


def test_catalog_price_and_stock_commands(db_url, db, capsys, tmp_path: Path):
    assert run(capsys, db_url, "store", "add", "C003", "徐家汇店")[0] == 0
    assert run(capsys, db_url, "store", "add", "C004", "五角场店")[0] == 0
    csv_file = tmp_path / "catalog.csv"
    csv_file.write_text(
        "sku,name_zh,name_en,unit,barcodes,category,active,price\n"
        "YZGL,杨枝甘露,Mango sago,piece,6901234567892|6901234567908,drinks,1,16\n"
        "NUTS,糖炒栗子,Chestnuts,kg,PLU:0417,snacks,1,39.80\n",
        encoding="gb18030",
    )
    code, _, err = run(capsys, db_url, "catalog", "import", str(csv_file))
    assert code == 1 and "cannot read" in err  # not UTF-8
    code, out, _ = run(capsys, db_url, "catalog", "import", str(csv_file), "--encoding", "gb18030")
    assert code == 0 and "2 created, 0 updated, 0 unchanged, 2 prices published" in out
    code, out, _ = run(capsys, db_url, "catalog", "import", str(csv_file), "--encoding", "gb18030")
    assert "0 created, 0 updated, 2 unchanged, 0 prices published" in out

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name_zh,unit\nX1,好,piece\nX2,坏,box\n", encoding="utf-8")
    before = counts(db)
    code, _, err = run(capsys, db_url, "catalog", "import", str(bad))
    assert code == 1 and "line 3" in err
    assert counts(db) == before

    at = (datetime.now(UTC) + timedelta(hours=3)).astimezone().replace(microsecond=0)
    code, out, _ = run(
        capsys,
        db_url,
        "price",
        "set",
        "YZGL",
        "18",
        "--effective-at",
        at.isoformat(),
        "--store",
        "C003",
        "--store",
        "C004",
    )
    assert code == 0
    assert out.count("1800 fen") == 2 and "C003" in out and "C004" in out
    with db.read() as conn:
        rows = conn.execute(
            select(m.price_versions).where(
                m.price_versions.c.sku == "YZGL", m.price_versions.c.store_code.is_not(None)
            )
        ).all()
    assert sorted(r.store_code for r in rows) == ["C003", "C004"]
    assert {r.effective_at for r in rows} == {at.astimezone(UTC)}
    with pytest.raises(SystemExit):
        main(["price", "set", "YZGL", "18", "--effective-at", "2030-01-01T14:00", "--db", db_url])
    assert "UTC offset" in capsys.readouterr().err
    code, _, err = run(capsys, db_url, "price", "set", "YZGL", "18.005")
    assert code == 1 and "two decimals" in err

    code, out, _ = run(
        capsys, db_url, "stock", "receive", "--store", "C003", "NUTS", "2.5", "--reason", "PO-1"
    )
    assert code == 0 and "on hand 2.5 kg" in out
    assert level(db, "C003", "NUTS") == 2500
    code, out, _ = run(
        capsys, db_url, "stock", "adjust", "--store", "C003", "YZGL", "-3", "--reason", "破损"
    )
    assert code == 0 and level(db, "C003", "YZGL") == -3000
    code, _, err = run(
        capsys, db_url, "stock", "receive", "--store", "C003", "YZGL", "1.5", "--reason", "x"
    )
    assert code == 1 and "whole" in err
    code, out, _ = run(capsys, db_url, "stock", "show", "NUTS")
    assert "C003\t徐家汇店\ton hand 2.5 kg" in out


def test_admin_token_config_report_and_prune(db_url, db, capsys):
    code, out, _ = run(capsys, db_url, "admin", "token", "create", "ops-laptop")
    token = out.strip()
    assert code == 0 and token.startswith("cpa_")
    with db.read() as conn:
        assert auth.authenticate_admin(conn, token, datetime.now(UTC)).name == "ops-laptop"
    assert run(capsys, db_url, "config", "set", "receipt.header", "欢迎光临")[0] == 0
    code, out, _ = run(capsys, db_url, "config", "set", "member.points_per_yuan", "2")
    assert out.strip() == "chain: member.points_per_yuan = 2"
    code, out, _ = run(capsys, db_url, "report", "stale-prices", "--since", "2020-01-01T00:00Z")
    assert code == 0 and json.loads(out)["stale_lines"] == 0
    code, out, _ = run(capsys, db_url, "feed", "prune", "--older-than-days", "3650")
    assert code == 0 and out.startswith("0 changes pruned")
    assert run(capsys, db_url, "admin", "token", "revoke", "ops-laptop")[0] == 0
    assert run(capsys, db_url, "admin", "token", "revoke", "ops-laptop")[0] == 1


@pytest.mark.slow  # starts HQ as a process
def test_console_script_runs_as_a_process(db_url):
    result = subprocess.run(
        [sys.executable, "-m", "server_stub.cli", "store", "list", "--db", db_url],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "C001\t人民广场店" in result.stdout
