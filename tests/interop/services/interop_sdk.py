"""The SDK under test, chosen by PERDURE_INTEROP_SDK: the same service code runs on both.

`perdure` (default) is what the suite exists for; `restate` (the official restate-sdk 1.2.0,
same public API) validates the harness and the scenarios themselves.
"""

from __future__ import annotations

import os

if os.environ.get("PERDURE_INTEROP_SDK", "perdure") == "restate":
    import restate
else:
    import perdure as restate  # type: ignore[no-redef]

__all__ = ["restate"]
