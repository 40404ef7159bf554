"""The SDK these programs run on, chosen by DIFF_SDK (`perdure` or `restate`, the official
restate-sdk 1.2.0): the same code serves on both. DIFF_SUFFIX ends every service name, so
both SDKs' deployments can be registered on one server side by side."""

from __future__ import annotations

import os

if os.environ.get("DIFF_SDK", "perdure") == "restate":
    import restate
else:
    import perdure as restate  # type: ignore[no-redef]

SUFFIX = os.environ.get("DIFF_SUFFIX", "")


def named(name: str) -> str:
    return f"{name}{SUFFIX}"


__all__ = ["SUFFIX", "named", "restate"]
