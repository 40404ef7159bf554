"""scripts/install-test-deps (run by scripts/test before every session): on a machine that has
everything, it is quick and needs no network (the tests run in a namespace without one, so an
install attempt here would fail)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_and_offline_when_everything_is_installed() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO / "scripts" / "install-test-deps")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install" not in done.stderr and "apt-get" not in done.stderr, done.stderr
    assert time.monotonic() - started < 30
