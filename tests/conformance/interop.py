"""The parts of the interop harness (tests/interop/harness, another suite's) reused here.

tests/interop is a package under the `tests` namespace. Importing it by its full name needs the
repository root on sys.path, which `python -m pytest` from the root gives but plain `pytest`
(importlib import mode) does not, so it is added here, once, before those imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from tests.interop.harness.clients import (  # noqa: E402
    register_deployment,
    wait_for_ingress_services,
)
from tests.interop.harness.netns import loopback_only_problem  # noqa: E402
from tests.interop.harness.polling import ConditionTimeout, eventually  # noqa: E402
from tests.interop.harness.ports import free_port  # noqa: E402
from tests.interop.harness.process import ManagedProcess  # noqa: E402
from tests.interop.harness.restate_server import BASE_ENV, RestateServer  # noqa: E402

__all__ = [
    "BASE_ENV",
    "ConditionTimeout",
    "ManagedProcess",
    "RestateServer",
    "eventually",
    "free_port",
    "loopback_only_problem",
    "register_deployment",
    "wait_for_ingress_services",
]
