"""installer/build.sh's bundle starts the till on its own: no source tree, no venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _bare_env(data_dir: Path) -> dict[str, str]:
    """What a fresh till has: no PYTHONPATH, no virtual environment, a new data folder."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        PATH="/usr/bin:/bin",
        QT_QPA_PLATFORM="offscreen",
        CHAINPOS_DATA_DIR=str(data_dir),
    )
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("PyInstaller", reason="the dev extras install PyInstaller")
    out = tmp_path_factory.mktemp("bundle")
    env = {
        **os.environ,
        "CHAINPOS_VENV": sys.prefix,
        "CHAINPOS_DIST": str(out / "dist"),
        "CHAINPOS_BUILD": str(out / "build"),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "installer" / "build.sh"), "--skip-tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    exe = out / "dist" / "chainpos" / "chainpos"
    assert exe.is_file() and os.access(exe, os.X_OK)
    # Moved away from the tree it was built in, as when copied to a till.
    moved = out / "till" / "chainpos"
    shutil.move(str(exe.parent), moved)
    shutil.rmtree(out / "build")
    return moved / "chainpos"


def test_bundled_demo_till_starts_to_ready_on_its_own_data(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [str(bundle), "demo", "--standalone", "--exit-when-ready", "--lang", "zh_CN"],
        cwd=tmp_path,
        env=_bare_env(data),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready " in done.stdout
    assert "1001 / 1234 / cashier" in done.stdout
    # The demo data and the migrations came from the bundle: the database is at head.
    assert (data / "demo-S001" / "terminal.db").is_file()
    # Resources the screens read at run time travel with it (the pinyin table, the font).
    internal = bundle.parent / "_internal" / "resources"
    assert (internal / "ime" / "pinyin.txt").is_file()
    assert (internal / "fonts" / "WenQuanYiMicroHei-GB2312.ttf").is_file()


def test_bundled_till_asks_to_enrol_when_it_has_no_store(bundle: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(bundle), "run", "--exit-when-ready"],
        cwd=tmp_path,
        env=_bare_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not enrolled with HQ yet" in done.stderr
