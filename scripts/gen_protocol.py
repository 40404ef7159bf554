"""Regenerate src/perdure/protocol/protocol_pb2.py (+ .pyi) from protocol.proto.

Needs the dev extra (grpcio-tools, mypy-protobuf): `python scripts/gen_protocol.py`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PKG = SRC / "perdure" / "protocol"


def main() -> int:
    plugin = shutil.which("protoc-gen-mypy")
    if plugin is None:
        print("protoc-gen-mypy not found: pip install mypy-protobuf", file=sys.stderr)
        return 1
    args = [
        "protoc",
        f"--proto_path={SRC}",
        f"--python_out={SRC}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--mypy_out={SRC}",
        str(PKG / "protocol.proto"),
    ]
    return protoc.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
