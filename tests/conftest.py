"""Makes the shared test support (tests/support) importable as `tests.support` in every suite.

`python -m pytest` from the repository root puts the root on sys.path, plain `pytest`
(importlib import mode) does not; this conftest is loaded before any suite's, so it adds it once.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))
