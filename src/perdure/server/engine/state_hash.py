"""restate's state version: the hash `POST /services/{s}/state` compares before replacing
a key's state (optimistic concurrency for `restate state edit`, reference tools §3).

base64url, no padding, of SHA-256 over the entries sorted by key, each as
`u64 BE index || 0x01 || key || 0x02 || value || 0x03` (checked against restate-server
1.7.12: a replacement with this version is applied, with another one it is dropped).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable


def state_version(entries: Iterable[tuple[bytes, bytes]]) -> str:
    digest = hashlib.sha256()
    for index, (key, value) in enumerate(sorted(entries)):
        digest.update(struct.pack(">Q", index) + b"\x01" + key + b"\x02" + value + b"\x03")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
