"""Side effects outside the journal: one file per effect name, one line per occurrence.

Files (not a module-level dict) so the test process can read them directly, even while the
server cannot reach the endpoint (request signing) and across endpoint restarts. Layout must
match tests/interop/harness/effects.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _path(name: str) -> Path:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"effect name {name!r} must match {_SAFE_NAME.pattern}")
    return Path(os.environ["INTEROP_EFFECTS_DIR"]) / name


def record(name: str, line: str = "x") -> int:
    """Append one occurrence; return how many there are now."""
    path = _path(name)
    # O_APPEND keeps concurrent single-line writes whole.
    with path.open("a") as f:
        f.write(line.replace("\n", " ") + "\n")
    return count(name)


def count(name: str) -> int:
    try:
        return len(_path(name).read_text().splitlines())
    except FileNotFoundError:
        return 0


def lines(name: str) -> list[str]:
    try:
        return _path(name).read_text().splitlines()
    except FileNotFoundError:
        return []
