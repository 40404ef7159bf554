"""What the figures were measured on: machine, versions, source revision, durability."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.systems import SystemSpec
from tests.support.restate_server import SERVER_VERSION

REPO = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "?"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_info(specs: list[SystemSpec]) -> dict[str, Any]:
    import perdure

    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        # Other work on the machine skews every figure: said next to them.
        "load_average": os.getloadavg(),
        "perdure_git_sha": _git("rev-parse", "HEAD"),
        "perdure_git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "perdure_source": str(Path(perdure.__file__).resolve().parent),
        "versions": {
            "perdure": _version("perdure"),
            "restate-server": SERVER_VERSION,
            "restate-sdk": _version("restate-sdk"),
            "hypercorn": _version("hypercorn"),
            "httpx": _version("httpx"),
        },
        "durability": {s.name: s.durability for s in specs},
    }
