"""perdure: durable execution in pure Python, wire-compatible with Restate.

This is the SDK's public API. It mirrors restate-sdk 1.2, so a service written for it
runs with ``import perdure as restate``. Importing it loads neither the server nor any
store: a deployment carries no database driver.
"""

import typing as _typing

from perdure import exceptions, serde, typed  # noqa: F401  (restate.serde / restate.exceptions)
from perdure._version import __version__
from perdure.sdk.combinators import as_completed, gather, select, wait_completed
from perdure.sdk.context import (
    Context,
    DurablePromise,
    ObjectContext,
    ObjectSharedContext,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunOptions,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from perdure.sdk.endpoint import app
from perdure.sdk.errors import (
    RetryableError,
    SdkInternalBaseException,
    TerminalError,
    is_internal_exception,
)
from perdure.sdk.flow import Rate
from perdure.sdk.logging import RestateLoggingFilter, getLogger
from perdure.sdk.object import VirtualObject
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.schedule import Schedule
from perdure.sdk.serde import BytesSerde, DefaultSerde, JsonSerde, PydanticJsonSerde, Serde
from perdure.sdk.service import Service
from perdure.sdk.typed import TypedObject, TypedService, TypedWorkflow
from perdure.sdk.workflow import Workflow

__all__ = [
    "BytesSerde",
    "Context",
    "DefaultSerde",
    "DurablePromise",
    "InvocationRetryPolicy",
    "JsonSerde",
    "ObjectContext",
    "ObjectSharedContext",
    "PydanticJsonSerde",
    "Rate",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RestateLoggingFilter",
    "RetryableError",
    "RunOptions",
    "Schedule",
    "SdkInternalBaseException",
    "SendHandle",
    "Serde",
    "Service",
    "TerminalError",
    "TypedObject",
    "TypedService",
    "TypedWorkflow",
    "VirtualObject",
    "Workflow",
    "WorkflowContext",
    "WorkflowSharedContext",
    "__version__",
    "app",
    "as_completed",
    "gather",
    "getLogger",
    "is_internal_exception",
    "select",
    "wait_completed",
]

# restate-sdk's test harness names (`restate.harness`, `restate.test_harness`, ...) load the
# server, so they are resolved on first use and kept out of __all__: `import perdure` stays
# free of server imports (a deployment carries no database driver).
_HARNESS_NAMES = frozenset({"HarnessEnvironment", "create_test_harness", "test_harness"})

if _typing.TYPE_CHECKING:
    from perdure import harness as harness
    from perdure.harness import (
        HarnessEnvironment as HarnessEnvironment,
        create_test_harness as create_test_harness,
        test_harness as test_harness,
    )
else:

    def __getattr__(name: str) -> _typing.Any:
        if name == "harness" or name in _HARNESS_NAMES:
            import importlib

            module = importlib.import_module("perdure.harness")
            return module if name == "harness" else getattr(module, name)
        raise AttributeError(f"module 'perdure' has no attribute {name!r}")
