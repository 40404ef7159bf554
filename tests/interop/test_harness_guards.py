"""The harness's own guards: where restate-server may run, and what to do when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import netns, restate_server


def test_refuses_a_namespace_with_real_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.socket, "if_nameindex", lambda: [(1, "lo"), (2, "eth0")])
    problem = netns.loopback_only_problem()
    assert problem is not None
    assert "eth0" in problem
    assert "scripts/test" in problem


def test_accepts_a_loopback_only_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.socket, "if_nameindex", lambda: [(1, "lo")])
    assert netns.loopback_only_problem() is None


def test_missing_server_binary_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PERDURE_NPM_CACHE", str(tmp_path))
    with pytest.raises(pytest.fail.Exception) as failure:
        restate_server.require_server_binary()
    assert "scripts/install-interop" in str(failure.value)
    assert str(tmp_path) in str(failure.value)
