"""perdure: durable execution in pure Python, wire-compatible with Restate.

This is the SDK's public API. It mirrors restate-sdk 1.2, so a service written for it
runs with ``import perdure as restate``. Importing it loads neither the server nor any
store: a deployment carries no database driver.
"""

from perdure import exceptions, serde  # noqa: F401  (restate.serde / restate.exceptions)
from perdure._version import __version__
from perdure.sdk.endpoint import app
from perdure.sdk.errors import (
    RetryableError,
    SdkInternalBaseException,
    TerminalError,
    is_internal_exception,
)
from perdure.sdk.object import VirtualObject
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import BytesSerde, DefaultSerde, JsonSerde, PydanticJsonSerde, Serde
from perdure.sdk.service import Service
from perdure.sdk.workflow import Workflow

__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "InvocationRetryPolicy",
    "JsonSerde",
    "PydanticJsonSerde",
    "RetryableError",
    "SdkInternalBaseException",
    "Serde",
    "Service",
    "TerminalError",
    "VirtualObject",
    "Workflow",
    "__version__",
    "app",
    "is_internal_exception",
]
