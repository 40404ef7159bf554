"""CPU time and peak memory of the processes a role (server, endpoint) is made of, from /proc.

A role is the session of the process we started (tests/support starts each child in a session
of its own), so a supervisor and its workers (hypercorn) count together."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str]:
    text = (_PROC / str(pid) / "stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def session_pids(leader: int) -> list[int]:
    """The live processes of the session `leader` started (itself included)."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            # After ')': state(3) ppid(4) pgrp(5) session(6) -> index 3 is the session.
            if int(_stat_fields(int(entry.name))[3]) == leader:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime (all threads) of `pids`, in seconds; a process gone since counts 0."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime(14), stime(15)
    return total * _TICK_S


def peak_rss_mb(pids: list[int]) -> float:
    """Sum of the processes' VmHWM (peak resident set since start or the last reset), MB."""
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in (_PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024.0


def reset_peak_rss(pids: list[int]) -> bool:
    """Restart the processes' VmHWM at their current RSS (Linux >= 4.0); False if refused."""
    done = True
    for pid in pids:
        try:
            (_PROC / str(pid) / "clear_refs").write_text("5")
        except OSError:
            done = False
    return done
