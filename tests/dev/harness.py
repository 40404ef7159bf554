"""`perdure dev` as a child process on free loopback ports, started and stopped by its pid.

The launcher, process handling, ports and polling are tests/support's.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
APPS = Path(__file__).resolve().parent / "apps"


class Dev(PerdureServer):
    """One `perdure dev APP` process; `start` again (same data dir) after it stopped."""

    def __init__(self, app: Path, workdir: Path, env: Mapping[str, str]) -> None:
        super().__init__(workdir, env, app=app, data_dir=workdir / "data")

    def signal(self, sig: signal.Signals, within: float = 20.0) -> int:
        """Send `sig` to the process we started and wait for it to exit; its exit code."""
        assert self.process is not None
        os.kill(self.pid, sig)
        process = self.process
        what = f"perdure dev to exit after {sig.name}"
        code = eventually_sync(process.exit_code, what=what, within=within)
        self.process = None
        return code

    def log(self) -> str:
        """What every run logged."""
        return self.log_text()

    def stop(self) -> None:
        super().stop()
        self.process = None
