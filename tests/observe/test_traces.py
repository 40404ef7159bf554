"""OpenTelemetry traces exported over OTLP/HTTP by `perdure dev`, received by a collector
the test runs (issue 11, item 3): the sign-up workflow's invocation, attempt, handler and
`ctx.run` spans, linked parent to child, under the ingress caller's traceparent, across a
restart; calls between services; an invocation killed while suspended."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from perdure.server.observe.trace_config import traces_exporter
from perdure.server.observe.tracing import invocation_span_ids
from tests.support.otlp import Collector, ReceivedSpan, otlp_collector
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

REPO = Path(__file__).resolve().parents[2]
SIGNUP = REPO / "examples" / "signup.py"
CALLS_APP = Path(__file__).parent / "apps" / "traced_calls_app.py"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # OTLP span kinds


def traced_env(collector: Collector, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": "perdure-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans arrive soon after they end
        "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s",  # suspend at every await
        **extra,
    }


def one(spans: list[ReceivedSpan], what: str) -> ReceivedSpan:
    assert len(spans) == 1, f"{what}: {len(spans)} spans {[s.name for s in spans]}"
    return spans[0]


def span_named(collector: Collector, name: str, **attributes: object) -> ReceivedSpan:
    def found() -> ReceivedSpan | None:
        spans = [
            s
            for s in collector.spans(name)
            if all(s.attributes.get(k) == v for k, v in attributes.items())
        ]
        return spans[0] if spans else None

    return eventually_sync(found, what=f"the span {name!r} {attributes} at the collector")


def sign_up(server: PerdureServer, ingress: httpx.Client, world: Path) -> str:
    """Ann's sign-up under the caller's traceparent, with a restart of the server while it
    waits for the click; returns the run's invocation id once it is done."""
    submitted = ingress.post(
        f"{server.ingress_url}/SignUp/ann/run/send",
        json={"name": "Ann", "email": "ann@example.com"},
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    )
    assert submitted.status_code == 202, submitted.text

    def stage() -> str | None:
        answer = ingress.get(f"{server.ingress_url}/SignUp/ann/stage")
        return answer.json() if answer.status_code == 200 and answer.content else None

    eventually_sync(lambda: stage() == "waiting-for-click", what="the e-mail out")
    # The next attempts (and the end of the invocation's span) are another process's.
    server.stop()
    server.extra_env["OTEL_RESOURCE_ATTRIBUTES"] = "perdure.test.life=2"
    server.start()
    outbox = (world / "outbox.jsonl").read_text()
    code = re.findall(r"confirmation code is ([0-9a-f-]{36})", outbox)[-1]
    approved = ingress.post(f"{server.ingress_url}/SignUp/ann/approve_email", json=code)
    assert approved.status_code == 200, approved.text
    attached = ingress.get(f"{server.ingress_url}/restate/workflow/SignUp/ann/attach")
    assert attached.status_code == 200, attached.text
    return str(submitted.json()["invocationId"])


def test_the_sign_up_workflow_is_one_trace_across_a_restart(tmp_path: Path) -> None:
    world = tmp_path / "world"
    with otlp_collector() as collector:
        server = PerdureServer(
            tmp_path,
            traced_env(
                collector,
                PERDURE_EXAMPLES_DIR=str(world),
                OTEL_RESOURCE_ATTRIBUTES="perdure.test.life=1",
            ),
            app=SIGNUP,
            data_dir=tmp_path / "data",
        )
        server.start()
        try:
            with httpx.Client(timeout=30) as ingress:
                run_id = sign_up(server, ingress, world)
            invocation = span_named(collector, "invocation SignUp/run")
        finally:
            server.stop()  # flushes the last spans
        spans = collector.spans(trace_id=CALLER_TRACE)

    # The invocation: under the ingress caller's span, with the id derived from its own.
    assert invocation.trace_id == CALLER_TRACE
    assert invocation.parent_span_id == CALLER_SPAN
    assert invocation.span_id == f"{invocation_span_ids(run_id)[0]:016x}"
    assert invocation.kind == SERVER
    assert invocation.attributes["restate.invocation.id"] == run_id
    assert invocation.attributes["restate.invocation.target"] == "SignUp/ann/run"
    assert invocation.attributes["restate.invocation.result"] == "success"
    assert invocation.resource["service.name"] == "perdure-under-test"
    assert invocation.resource["perdure.test.life"] == "2"  # it ended after the restart

    # Its attempts, in both lives of the server: children of the one invocation span.
    attempts = sorted(
        (s for s in spans if s.name == "attempt SignUp/run"),
        key=lambda s: int(s.attributes["restate.invocation.attempt"]),
    )
    assert {s.parent_span_id for s in attempts} == {invocation.span_id}
    assert {s.resource["perdure.test.life"] for s in attempts} == {"1", "2"}
    assert all(s.kind == CLIENT for s in attempts)
    numbers = [int(s.attributes["restate.invocation.attempt"]) for s in attempts]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3
    outcomes = [s.attributes["restate.attempt.outcome"] for s in attempts]
    assert outcomes.count("ended") == 1 and "suspended" in outcomes
    # The journal entries each attempt added are its events.
    events = [(name, attrs) for s in attempts for name, attrs in s.events]
    runs = [attrs.get("restate.journal.name") for name, attrs in events if name == "Command: Run"]
    assert runs[:2] == ["create user", "send verification e-mail"]
    names = {name for name, _ in events}
    assert {"Command: SetState", "Command: GetPromise", "Command: Output"} <= names
    assert "Control: ProposeRun" in names  # a ctx.run's result, proposed
    assert "Notification: Run" in names  # a run's result, sent to the running attempt

    # The handler's own spans (perdure's SDK): one per attempt, its child; `ctx.run`
    # actions under the handler span of the attempt that ran them, once each.
    handlers = [s for s in spans if s.name == "handler SignUp/run"]
    assert sorted(s.parent_span_id for s in handlers) == sorted(s.span_id for s in attempts)
    assert all(s.kind == SERVER for s in handlers)
    create = one([s for s in spans if s.name == "run create user"], "run create user")
    assert create.parent_span_id in {s.span_id for s in handlers}
    assert len([s for s in spans if s.name == "run send verification e-mail"]) == 1

    # approve_email was called without a traceparent: a trace of its own, rooted at its
    # invocation, its trace id derived from the invocation id.
    approve = one(collector.spans("invocation SignUp/approve_email"), "approve_email")
    assert approve.parent_span_id == ""
    approve_id = str(approve.attributes["restate.invocation.id"])
    assert approve.trace_id == f"{invocation_span_ids(approve_id)[1]:032x}"


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with otlp_collector() as running:
        yield running


@pytest.fixture(scope="module")
def calls_server(
    collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PerdureServer]:
    server = PerdureServer(
        tmp_path_factory.mktemp("traced-calls"), traced_env(collector), app=CALLS_APP
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_called_invocation_is_a_child_of_the_calling_attempt(
    collector: Collector, calls_server: PerdureServer
) -> None:
    trace_id = os.urandom(16).hex()
    answer = httpx.post(
        f"{calls_server.ingress_url}/Front/greet",
        json="ann",
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["loud"] == "ANN"

    shout = span_named(collector, "invocation Back/shout")
    note = span_named(collector, "invocation Back/note")
    front = span_named(collector, "invocation Front/greet")
    assert front.trace_id == shout.trace_id == note.trace_id == trace_id
    assert front.parent_span_id == CALLER_SPAN
    callers = [s for s in collector.spans("attempt Front/greet", trace_id)]
    # The call and the send come from the first attempt (the second replays them).
    first = one([s for s in callers if s.attributes["restate.invocation.attempt"] == 1], "1st")
    assert shout.parent_span_id == note.parent_span_id == first.span_id
    assert first.parent_span_id == front.span_id
    call_events = [attrs for name, attrs in first.events if name == "Command: Call"]
    assert call_events == [{"restate.call.target": "Back/shout"}]
    # What the callee's handler saw: its invocation's headers carry the calling attempt's
    # trace context; the attempt's own request carries the callee attempt's.
    assert seen["input"] == f"00-{trace_id}-{first.span_id}-01"
    shout_attempts = {s.span_id for s in collector.spans("attempt Back/shout", trace_id)}
    assert seen["attempt"].split("-")[2] in shout_attempts
    upper = span_named(collector, "run upper")
    assert upper.trace_id == trace_id


def test_an_invocation_killed_while_suspended_ends_its_span(
    collector: Collector, calls_server: PerdureServer
) -> None:
    sent = httpx.post(f"{calls_server.ingress_url}/Front/wait/send", json=None, timeout=30)
    assert sent.status_code == 202, sent.text
    invocation_id = sent.json()["invocationId"]
    suspended = span_named(
        collector, "attempt Front/wait", **{"restate.invocation.id": invocation_id}
    )
    assert suspended.attributes["restate.attempt.outcome"] == "suspended"
    killed = httpx.patch(f"{calls_server.admin_url}/invocations/{invocation_id}/kill")
    assert killed.status_code == 200, killed.text
    span = span_named(
        collector, "invocation Front/wait", **{"restate.invocation.id": invocation_id}
    )
    assert span.span_id == suspended.parent_span_id
    assert span.attributes["restate.invocation.result"] == "failure"
    assert span.status_code == 2 and "killed" in span.status_message


def test_a_failed_attempt_is_an_error_span_and_the_retry_another_span(
    collector: Collector, calls_server: PerdureServer
) -> None:
    answer = httpx.post(f"{calls_server.ingress_url}/Back/once_broken", json="bo", timeout=30)
    assert answer.status_code == 200, answer.text
    invocation = span_named(collector, "invocation Back/once_broken")
    attempts = {
        s.attributes["restate.invocation.attempt"]: s
        for s in collector.spans("attempt Back/once_broken", invocation.trace_id)
    }
    assert sorted(attempts) == [1, 2]
    assert attempts[1].attributes["restate.attempt.outcome"] == "error"
    assert attempts[1].status_code == 2 and "broken once" in attempts[1].status_message
    assert attempts[2].attributes["restate.attempt.outcome"] == "ended"
    assert attempts[2].status_code == 0

    def handlers() -> dict[str, ReceivedSpan] | None:
        spans = collector.spans("handler Back/once_broken", invocation.trace_id)
        return {s.parent_span_id: s for s in spans} if len(spans) == 2 else None

    handler = eventually_sync(handlers, what="both attempts' handler spans")
    assert handler[attempts[1].span_id].status_code == 2  # the SDK saw it fail
    assert handler[attempts[2].span_id].status_code == 0


def test_tracing_is_configured_by_the_otel_variables() -> None:
    assert traces_exporter({}) is None
    assert traces_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == "otlp"
    assert traces_exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"}) == "otlp"
    assert traces_exporter({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert traces_exporter({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert traces_exporter({**endpoint, "OTEL_SDK_DISABLED": "true"}) is None
    assert traces_exporter({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) is None
    assert traces_exporter({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == "otlp"


def test_without_otel_variables_the_server_does_not_load_opentelemetry() -> None:
    """Near-zero cost when tracing is off: not even imported by the server or the SDK."""
    probe = (
        "import asyncio, json, sys\n"
        "import perdure.server.app, perdure.cli.dev, perdure.cli.serve\n"
        "from perdure.server.observe.trace_config import traces_exporter\n"
        "import os\n"
        "print(json.dumps([traces_exporter(os.environ),"
        " sorted(m for m in sys.modules if m.startswith('opentelemetry'))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [None, []]
