"""The soak's short form (bench/soak.py): random programs under kill -9 and SIGSTOP, against
`perdure server` (services on `perdure serve`, one deployment over HTTP/2, one over HTTP/1.1)
and against `perdure dev`; each run creates >= 1,000 invocations through >= 3 kills and must
account for every one of them exactly. A failure prints the seed: rerun it with
`python bench/soak.py --system MODE --seed SEED`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVOCATIONS = 1000
KILLS = 3
PAUSES = 3


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["server", "dev"])
def test_soak_accounts_for_every_invocation_through_kills_and_pauses(
    mode: str, tmp_path: Path
) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable, "bench/soak.py",
            "--system", mode,
            "--invocations", str(INVOCATIONS),
            "--kills", str(KILLS),
            "--pauses", str(PAUSES),
            "--time-limit", "240",
            "--json", str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=290,
    )  # fmt: skip
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    [report] = json.loads(out.read_text())
    assert report["problems"] == [], done.stdout
    assert report["invocations"] >= INVOCATIONS
    assert report["invocations_stored"] == report["invocations"]
    assert report["kills"] >= KILLS and report["kills_server"] >= 1
    assert report["pauses"] >= PAUSES
    assert report["lost"] == report["duplicated"] == report["wrong_results"] == 0
    assert report["counter_diff"] == 0 and report["counters"] > 0
    assert report["run_completions"] > 0 and report["run_completions_doubled"] == 0
    assert report["integrity_check"] == "ok"
    if mode == "server":
        assert report["kills_endpoint"] >= 1
