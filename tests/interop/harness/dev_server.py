"""`perdure dev` hosting the services under test in-process (embedded mode): the server and
the endpoint are one process, and no restate-server runs. The scenarios drive its ingress and
admin API exactly as they drive restate-server's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.perdure import PerdureServer
from tests.support.restate_server import BASE_ENV

from .effects import EFFECTS_DIR_ENV
from .endpoint import APP_FILE, IDENTITY_KEYS_ENV, SDK_ENV, SERVICES_DIR


class DevServer(PerdureServer):
    """Same surface as `RestateServer` (urls, process, start, stop)."""

    def __init__(self, workdir: Path, effects_dir: Path, env: Mapping[str, str]) -> None:
        super().__init__(
            workdir,
            {
                # Retry pacing as for restate-server (perdure ignores the settings it lacks).
                **BASE_ENV,
                **env,
                # The service modules import each other and the SDK switch by plain module name.
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(SERVICES_DIR), os.environ.get("PYTHONPATH")])
                ),
                SDK_ENV: "perdure",
                EFFECTS_DIR_ENV: str(effects_dir),
                IDENTITY_KEYS_ENV: "",
            },
            app=APP_FILE,
            cwd=SERVICES_DIR,
        )

    def services(self) -> list[str]:
        """The services registered at startup (no registration step in embedded mode)."""
        with httpx.Client(timeout=10.0) as client:
            response = client.get(f"{self.admin_url}/services")
        assert response.status_code == 200, response.text
        return sorted(s["name"] for s in response.json()["services"])
