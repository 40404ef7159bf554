"""perdure: durable execution in pure Python, wire-compatible with Restate.

This is the SDK's public API. It mirrors restate-sdk 1.2, so a service written for it
runs with ``import perdure as restate``. Importing it loads neither the server nor any
store: a deployment carries no database driver.
"""

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
from perdure.sdk.logging import RestateLoggingFilter, getLogger
from perdure.sdk.object import VirtualObject
from perdure.sdk.retry_policy import InvocationRetryPolicy
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
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RestateLoggingFilter",
    "RetryableError",
    "RunOptions",
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
