"""Reads the side-effect store the services write (tests/interop/services/interop_effects.py).

Each effect is a file named after it under one folder, with one line per occurrence. It lives
outside the journal and outside the endpoint process, so it counts how often code really ran,
survives endpoint restarts, and can be read even when the server cannot reach the endpoint.
"""

from __future__ import annotations

from pathlib import Path

EFFECTS_DIR_ENV = "INTEROP_EFFECTS_DIR"


class EffectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def lines(self, name: str) -> list[str]:
        try:
            return (self.root / name).read_text().splitlines()
        except FileNotFoundError:
            return []

    def count(self, name: str) -> int:
        return len(self.lines(name))
