from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import perdure
from perdure.protocol.manifest import RetryPolicySpec
from perdure.sdk.handler import handler_spec_of
from perdure.sdk.object import VirtualObject
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import BytesSerde, DefaultSerde
from perdure.sdk.service import Service
from perdure.sdk.workflow import Workflow


@dataclass
class Order:
    item: str
    quantity: int = 1


def test_handler_returns_the_function_with_its_spec_attached() -> None:
    svc = Service("Shop")

    async def buy(ctx: Any, order: Order) -> str:
        return f"{order.quantity} x {order.item}"

    decorated = svc.handler()(buy)

    assert decorated is buy
    spec = handler_spec_of(buy)
    assert svc.handlers == {"buy": spec}
    assert spec.service_name == "Shop"
    assert spec.service_type == "SERVICE"
    assert spec.kind is None
    assert spec.fn is buy
    assert spec.takes_input


async def test_decorated_function_stays_callable() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any, order: Order) -> str:
        return f"{order.quantity} x {order.item}"

    assert await buy(None, Order("pen", 2)) == "2 x pen"


def test_name_defaults_to_the_function_name_and_can_be_overridden() -> None:
    svc = Service("Shop")

    @svc.handler(name="checkout")
    async def buy(ctx: Any) -> None: ...

    assert list(svc.handlers) == ["checkout"]
    assert handler_spec_of(buy).name == "checkout"


def test_duplicate_handler_name_is_rejected() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any) -> None: ...

    with pytest.raises(ValueError, match="buy already exists in Shop"):

        @svc.handler(name="buy")
        async def other(ctx: Any) -> None: ...


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a/b", "_"])
def test_invalid_service_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="invalid service name"):
        Service(name)


def test_invalid_handler_name_is_rejected() -> None:
    svc = Service("Shop")
    with pytest.raises(ValueError, match="invalid handler name 'has-dash'"):

        @svc.handler(name="has-dash")
        async def buy(ctx: Any) -> None: ...


def test_handler_needs_the_context_parameter() -> None:
    svc = Service("Shop")
    with pytest.raises(ValueError, match="must take the context"):

        @svc.handler()
        async def buy() -> None: ...


def test_handler_with_a_third_required_parameter_is_rejected() -> None:
    svc = Service("Shop")
    with pytest.raises(ValueError, match=r"takes \(ctx\) or \(ctx, input\); it also requires c"):

        @svc.handler()
        async def buy(ctx: Any, a: int, c: int) -> None: ...


def test_optional_extra_parameters_are_allowed() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any, a: int, c: int = 0) -> None: ...

    assert handler_spec_of(buy).input_type_hint is int


def test_types_and_serdes_come_from_the_hints() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any, order: Order) -> list[str]:
        return []

    @svc.handler()
    async def ping(ctx: Any):  # type: ignore[no-untyped-def]
        return None

    spec = handler_spec_of(buy)
    assert spec.input_type_hint is Order
    assert spec.output_type_hint == list[str]
    assert isinstance(spec.input_serde, DefaultSerde)
    assert spec.input_serde.deserialize(b'{"item":"pen","quantity":3}') == Order("pen", 3)
    assert spec.output_serde.serialize(["a"]) == b'["a"]'

    untyped = handler_spec_of(ping)
    assert not untyped.takes_input
    assert untyped.input_type_hint is None
    assert untyped.output_type_hint is None


def test_none_return_annotation_means_no_output_type() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any, order: Order) -> None: ...

    assert handler_spec_of(buy).output_type_hint is None


def test_an_explicit_serde_wins_but_a_bare_default_serde_follows_the_hint() -> None:
    svc = Service("Shop")
    raw = BytesSerde()

    @svc.handler(input_serde=raw, accept="*/*", content_type="application/octet-stream")
    async def echo(ctx: Any, data: bytes) -> bytes:
        return data

    @svc.handler(input_serde=DefaultSerde())
    async def buy(ctx: Any, order: Order) -> None: ...

    echo_spec = handler_spec_of(echo)
    assert echo_spec.input_serde is raw
    assert echo_spec.accept == "*/*"
    assert echo_spec.content_type == "application/octet-stream"
    buy_serde = handler_spec_of(buy).input_serde
    assert isinstance(buy_serde, DefaultSerde)
    assert buy_serde.type_hint is Order


def test_unresolvable_annotation_degrades_to_untyped() -> None:
    svc = Service("Shop")

    @svc.handler()
    async def buy(ctx: Any, order: NotDefinedAnywhere) -> str:  # type: ignore[name-defined]  # noqa: F821
        return ""

    spec = handler_spec_of(buy)
    assert spec.takes_input
    assert spec.input_type_hint is None


def test_docstring_becomes_the_documentation() -> None:
    svc = Service("Shop", description="Buys things.", metadata={"team": "a"})

    @svc.handler(metadata={"owner": "b"})
    async def buy(ctx: Any) -> None:
        """Buy one thing.

        Really.
        """

    options = handler_spec_of(buy).options
    assert options.documentation == "Buy one thing.\n\nReally."
    assert options.metadata == {"owner": "b"}
    assert svc.description == "Buys things."
    assert svc.metadata == {"team": "a"}


def test_durations_become_milliseconds() -> None:
    svc = Service(
        "Shop",
        inactivity_timeout=timedelta(seconds=90),
        abort_timeout=timedelta(minutes=2),
        journal_retention=timedelta(days=1),
        idempotency_retention=timedelta(hours=1),
        ingress_private=True,
    )

    @svc.handler(inactivity_timeout=timedelta(milliseconds=1500))
    async def buy(ctx: Any) -> None: ...

    assert svc.options.inactivity_timeout_ms == 90_000
    assert svc.options.abort_timeout_ms == 120_000
    assert svc.options.journal_retention_ms == 86_400_000
    assert svc.options.idempotency_retention_ms == 3_600_000
    assert svc.options.ingress_private is True
    assert handler_spec_of(buy).options.inactivity_timeout_ms == 1500
    assert handler_spec_of(buy).options.abort_timeout_ms is None


def test_duration_must_be_a_non_negative_timedelta() -> None:
    with pytest.raises(ValueError, match="abort_timeout must not be negative"):
        Service("Shop", abort_timeout=timedelta(seconds=-1))
    with pytest.raises(TypeError, match=r"inactivity_timeout must be a datetime\.timedelta"):
        Service("Shop", inactivity_timeout=60)  # type: ignore[arg-type]


def test_retry_policy_becomes_the_manifest_spec() -> None:
    policy = InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=100),
        exponentiation_factor=2,
        max_interval=timedelta(seconds=10),
        max_attempts=5,
        on_max_attempts="pause",
    )
    svc = Service("Shop", invocation_retry_policy=policy)

    @svc.handler(invocation_retry_policy=InvocationRetryPolicy(on_max_attempts="kill"))
    async def buy(ctx: Any) -> None: ...

    assert svc.options.retry_policy == RetryPolicySpec(
        initial_interval_ms=100,
        max_interval_ms=10_000,
        max_attempts=5,
        exponentiation_factor=2.0,
        on_max_attempts="PAUSE",
    )
    assert handler_spec_of(buy).options.retry_policy == RetryPolicySpec(on_max_attempts="KILL")


def test_retry_policy_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="on_max_attempts must be 'pause' or 'kill'"):
        InvocationRetryPolicy(on_max_attempts="retry")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        InvocationRetryPolicy(max_attempts=0)


def test_virtual_object_handler_kinds() -> None:
    obj = VirtualObject("Counter", enable_lazy_state=True)

    @obj.handler()
    async def add(ctx: Any, n: int) -> int:
        return n

    @obj.handler(kind="shared", enable_lazy_state=False)
    async def get(ctx: Any) -> int:
        return 0

    assert obj.options.enable_lazy_state is True
    add_spec, get_spec = handler_spec_of(add), handler_spec_of(get)
    assert (add_spec.service_type, add_spec.kind) == ("VIRTUAL_OBJECT", "exclusive")
    assert add_spec.can_write_state and not add_spec.is_shared
    assert get_spec.kind == "shared"
    assert get_spec.is_shared and not get_spec.can_write_state
    assert get_spec.options.enable_lazy_state is False


def test_virtual_object_rejects_unknown_kind() -> None:
    obj = VirtualObject("Counter")
    with pytest.raises(ValueError, match="kind must be 'exclusive' or 'shared'"):
        obj.handler(kind="workflow")  # type: ignore[arg-type]


def test_workflow_main_and_shared_handlers() -> None:
    wf = Workflow("Signup")

    @wf.main(workflow_retention=timedelta(days=7))
    async def run(ctx: Any, email: str) -> bool:
        return True

    @wf.handler()
    async def click(ctx: Any, secret: str) -> None: ...

    run_spec, click_spec = handler_spec_of(run), handler_spec_of(click)
    assert (run_spec.service_type, run_spec.kind) == ("WORKFLOW", "workflow")
    assert run_spec.options.workflow_completion_retention_ms == 7 * 86_400_000
    assert click_spec.kind == "shared"


def test_workflow_has_one_main_handler() -> None:
    wf = Workflow("Signup")

    @wf.main()
    async def run(ctx: Any) -> None: ...

    with pytest.raises(ValueError, match="already has a main handler \\(run\\)"):

        @wf.main()
        async def run_again(ctx: Any) -> None: ...


def test_context_managers_are_the_services_then_the_handlers() -> None:
    @contextlib.asynccontextmanager
    async def outer() -> AsyncIterator[None]:
        yield

    @contextlib.asynccontextmanager
    async def inner() -> AsyncIterator[None]:
        yield

    svc = Service("Shop", invocation_context_managers=[outer])

    @svc.handler(invocation_context_managers=[inner])
    async def buy(ctx: Any) -> None: ...

    @svc.handler()
    async def sell(ctx: Any) -> None: ...

    assert handler_spec_of(buy).context_managers == (outer, inner)
    assert handler_spec_of(sell).context_managers == (outer,)


def test_a_handler_spec_names_a_function_for_calls() -> None:
    async def plain(ctx: Any) -> None: ...

    with pytest.raises(TypeError, match="is not a handler"):
        handler_spec_of(plain)


def test_repr_lists_the_handlers() -> None:
    obj = VirtualObject("Counter")

    @obj.handler()
    async def add(ctx: Any) -> None: ...

    assert repr(obj) == "VirtualObject('Counter', handlers=['add'])"


# The definitions mirror restate-sdk 1.2 parameter for parameter (users call them
# positionally too); only the serde defaults differ: None here means "from the type hint",
# what restate's default DefaultSerde() means there. perdure's extensions (flow control)
# come after restate's parameters, keyword-only and None by default, so no call written
# for restate-sdk changes meaning.
_EXTENSIONS = ("concurrency", "rate", "priority", "limit_by")
_MIRRORED_SIGNATURES = [
    ("Service", "__init__"),
    ("Service", "handler"),
    ("VirtualObject", "__init__"),
    ("VirtualObject", "handler"),
    ("Workflow", "__init__"),
    ("Workflow", "main"),
    ("Workflow", "handler"),
]


@pytest.mark.parametrize(("cls", "method"), _MIRRORED_SIGNATURES)
def test_signatures_mirror_restate_sdk(cls: str, method: str) -> None:
    restate = pytest.importorskip("restate")
    theirs = inspect.signature(getattr(getattr(restate, cls), method)).parameters.values()
    everything = list(inspect.signature(getattr(getattr(perdure, cls), method)).parameters.values())
    ours, extensions = everything[: len(theirs)], everything[len(theirs) :]
    assert [(p.name, p.default, p.kind) for p in extensions] == [
        (name, None, inspect.Parameter.KEYWORD_ONLY) for name in _EXTENSIONS
    ]

    assert [(p.name, p.kind) for p in ours] == [(p.name, p.kind) for p in theirs]
    for mine, their in zip(ours, theirs, strict=True):
        if mine.name in ("input_serde", "output_serde"):
            assert mine.default is None
        else:
            assert mine.default == their.default, mine.name
