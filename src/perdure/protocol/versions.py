"""Protocol and manifest versions, their content types, and how peers agree on one."""

from __future__ import annotations

import re

MIN_SERVICE_PROTOCOL_VERSION = 5
MAX_SERVICE_PROTOCOL_VERSION = 6
"""Versions this implementation speaks: V5 and V6 (V6 adds random_seed and failure metadata)."""

SUPPORTED_MANIFEST_VERSIONS = (2, 3, 4)

_PROTOCOL_CT = "application/vnd.restate.invocation.v"
_MANIFEST_CT = "application/vnd.restate.endpointmanifest.v"
_PROTOCOL_CT_RE = re.compile(r"^application/vnd\.restate\.invocation\.v(\d+)$")


def protocol_content_type(version: int) -> str:
    return f"{_PROTOCOL_CT}{version}"


def parse_protocol_content_type(content_type: str | None) -> int | None:
    """The version in an ``application/vnd.restate.invocation.vN`` header, else None."""
    if not content_type:
        return None
    match = _PROTOCOL_CT_RE.match(content_type.split(";", 1)[0].strip())
    return int(match.group(1)) if match else None


def manifest_content_type(version: int) -> str:
    return f"{_MANIFEST_CT}{version}+json"


def manifest_accept_header(versions: tuple[int, ...] = (1, 2, 3, 4)) -> str:
    """What a server sends as Accept on discovery (the real server lists v1..v4)."""
    return ", ".join(manifest_content_type(v) for v in versions)


def negotiate_manifest_version(accept: str | None) -> int | None:
    """Highest manifest version we support that `accept` lists; 2 if there is no header.

    None means no overlap: the endpoint answers 415.
    """
    if accept is None:
        return 2
    for version in sorted(SUPPORTED_MANIFEST_VERSIONS, reverse=True):
        if manifest_content_type(version) in accept:
            return version
    return None


SERVER_MAX_PROTOCOL_VERSION = 7
"""The newest version perdure's server drives (its SDK: MAX_SERVICE_PROTOCOL_VERSION)."""


def choose_protocol_version(
    deployment_min: int, deployment_max: int, ceiling: int = SERVER_MAX_PROTOCOL_VERSION
) -> int | None:
    """Version a server uses for a deployment: ``min(deployment_max, ceiling)``, if allowed."""
    version = min(deployment_max, ceiling)
    if version < deployment_min or version < MIN_SERVICE_PROTOCOL_VERSION:
        return None
    return version
