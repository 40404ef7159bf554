"""`sys_journal.entry_json` and `entry_lite_json` in restate-server's serde shapes (read
from restate 1.7.12's answers; the differential tests compare the entries both servers
write, these cover every entry type, including those no differential scenario makes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType as M
from perdure.store.entry_json import entry_json, entry_lite_json

FAILURE = pb.Failure(code=403, message="no")
FAILED = {"Failure": {"code": 403, "message": "no"}}
TARGET = pb.WorkflowTarget(workflow_name="Wf", workflow_key="k")
SPAN = {
    "span_context": {
        "trace_id": [0] * 16,
        "span_id": [0] * 8,
        "trace_flags": 0,
        "is_remote": False,
        "trace_state": "",
    },
    "cause": None,
}
DAY = {"secs": 86400, "nanos": 0}

# (type, message, entry_json, entry_lite_json) — the JSON inside {"Command": {Variant: …}}
# or {"Notification": …}.
COMMANDS: list[tuple[M, Message, dict[str, Any], dict[str, Any]]] = [
    (
        M.INPUT,
        pb.InputCommandMessage(
            headers=[pb.Header(key="a", value="b")], value=pb.Value(content=b"{}")
        ),
        {"headers": [{"name": "a", "value": "b"}], "payload": [123, 125], "name": ""},
        {},
    ),
    (
        M.OUTPUT,
        pb.OutputCommandMessage(value=pb.Value(content=b"1"), name="out"),
        {"result": {"Success": [49]}, "name": "out"},
        {"result": "Success"},
    ),
    (
        M.OUTPUT,
        pb.OutputCommandMessage(failure=FAILURE),
        {"result": FAILED, "name": ""},
        {"result": "Failure"},
    ),
    (
        M.GET_LAZY_STATE,
        pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1),
        {"key": "count", "completion_id": 1, "name": ""},
        {"key": "count", "completion_id": 1},
    ),
    (
        M.SET_STATE,
        pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"2")),
        {"key": "count", "value": [50], "name": ""},
        {"key": "count"},
    ),
    (
        M.CLEAR_STATE,
        pb.ClearStateCommandMessage(key=b"count"),
        {"key": "count", "name": ""},
        {"key": "count"},
    ),
    (M.CLEAR_ALL_STATE, pb.ClearAllStateCommandMessage(), {"name": ""}, {}),
    (
        M.GET_LAZY_STATE_KEYS,
        pb.GetLazyStateKeysCommandMessage(result_completion_id=2),
        {"completion_id": 2, "name": ""},
        {"completion_id": 2},
    ),
    (
        M.GET_EAGER_STATE,
        pb.GetEagerStateCommandMessage(key=b"done", void=pb.Void()),
        {"key": "done", "result": "Void", "name": ""},
        {"key": "done", "result": "Void"},
    ),
    (
        M.GET_EAGER_STATE,
        pb.GetEagerStateCommandMessage(key=b"done", value=pb.Value(content=b"1")),
        {"key": "done", "result": {"Success": [49]}, "name": ""},
        {"key": "done", "result": "Success"},
    ),
    (
        M.GET_EAGER_STATE_KEYS,
        pb.GetEagerStateKeysCommandMessage(value=pb.StateKeys(keys=[b"a", b"b"])),
        {"state_keys": ["a", "b"], "name": ""},
        {},
    ),
    (
        M.GET_PROMISE,
        pb.GetPromiseCommandMessage(key="link", result_completion_id=3),
        {"key": "link", "completion_id": 3, "name": ""},
        {"key": "link", "completion_id": 3},
    ),
    (
        M.PEEK_PROMISE,
        pb.PeekPromiseCommandMessage(key="link", result_completion_id=4),
        {"key": "link", "completion_id": 4, "name": ""},
        {"key": "link", "completion_id": 4},
    ),
    (
        M.COMPLETE_PROMISE,
        pb.CompletePromiseCommandMessage(
            key="link", completion_failure=FAILURE, result_completion_id=5
        ),
        {"key": "link", "value": FAILED, "completion_id": 5, "name": ""},
        {"key": "link", "completion_id": 5},
    ),
    (
        M.SLEEP,
        pb.SleepCommandMessage(wake_up_time=1_796_275_420_435, result_completion_id=4),
        {"wake_up_time": 1_796_275_420_435, "completion_id": 4, "name": ""},
        {"wake_up_time": 1_796_275_420_435, "completion_id": 4},
    ),
    (
        M.SEND_SIGNAL,
        pb.SendSignalCommandMessage(target_invocation_id="inv_1x", name="go", void=pb.Void()),
        {
            "target_invocation_id": "inv_1x",
            "signal_id": {"Name": "go"},
            "result": "Void",
            "name": "",
        },
        {"target_invocation_id": "inv_1x", "signal_id": {"Name": "go"}, "result": "Void"},
    ),
    (
        M.RUN,
        pb.RunCommandMessage(result_completion_id=1, name="create user"),
        {"completion_id": 1, "name": "create user"},
        {"completion_id": 1, "name": "create user"},
    ),
    (
        M.RUN,
        pb.RunCommandMessage(result_completion_id=1),
        {"completion_id": 1, "name": ""},
        {"completion_id": 1},  # an empty name is left out of the lite form
    ),
    (
        M.ATTACH_INVOCATION,
        pb.AttachInvocationCommandMessage(invocation_id="inv_1x", result_completion_id=6),
        {"target": {"InvocationId": "inv_1x"}, "completion_id": 6, "name": ""},
        {"target": {"InvocationId": "inv_1x"}, "completion_id": 6},
    ),
    (
        M.COMPLETE_AWAKEABLE,
        pb.CompleteAwakeableCommandMessage(awakeable_id="sign_1x", failure=FAILURE),
        {"id": "sign_1x", "result": FAILED, "name": ""},
        {"id": "sign_1x", "result": "Failure"},
    ),
]

NOTIFICATIONS: list[tuple[M, pb.NotificationTemplate, dict[str, Any], dict[str, Any]]] = [
    (
        M.RUN_COMPLETION,
        pb.NotificationTemplate(completion_id=1, value=pb.Value(content=b"")),
        {"Completion": {"Run": {"completion_id": 1, "result": {"Success": []}}}},
        {"ty": {"Completion": "Run"}, "id": {"CompletionId": 1}, "result": "Success"},
    ),
    (
        M.GET_PROMISE_COMPLETION,
        pb.NotificationTemplate(completion_id=3, failure=FAILURE),
        {"Completion": {"GetPromise": {"completion_id": 3, "result": FAILED}}},
        {"ty": {"Completion": "GetPromise"}, "id": {"CompletionId": 3}, "result": "Failure"},
    ),
    (
        M.SLEEP_COMPLETION,
        pb.NotificationTemplate(completion_id=4, void=pb.Void()),
        {"Completion": {"Sleep": {"completion_id": 4}}},
        {"ty": {"Completion": "Sleep"}, "id": {"CompletionId": 4}, "result": "Void"},
    ),
    (
        M.CALL_INVOCATION_ID_COMPLETION,
        pb.NotificationTemplate(completion_id=1, invocation_id="inv_1x"),
        {"Completion": {"CallInvocationId": {"completion_id": 1, "invocation_id": "inv_1x"}}},
        {
            "ty": {"Completion": "CallInvocationId"},
            "id": {"CompletionId": 1},
            "result": "InvocationId",
        },
    ),
    (
        M.GET_LAZY_STATE_KEYS_COMPLETION,
        pb.NotificationTemplate(completion_id=2, state_keys=pb.StateKeys(keys=[b"a"])),
        {"Completion": {"GetLazyStateKeys": {"completion_id": 2, "state_keys": ["a"]}}},
        {
            "ty": {"Completion": "GetLazyStateKeys"},
            "id": {"CompletionId": 2},
            "result": "StateKeys",
        },
    ),
    (
        M.SIGNAL,
        pb.NotificationTemplate(signal_id=1, void=pb.Void()),
        {"Signal": {"id": {"Index": 1}, "result": "Void"}},
        {"ty": "Signal", "id": {"SignalIndex": 1}, "result": "Void"},
    ),
    (
        M.SIGNAL,
        pb.NotificationTemplate(signal_name="go", value=pb.Value(content=b"1")),
        {"Signal": {"id": {"Name": "go"}, "result": {"Success": [49]}}},
        {"ty": "Signal", "id": {"SignalName": "go"}, "result": "Success"},
    ),
]


def _both(code: M, message: Message, **callee: Any) -> tuple[Any, Any]:
    payload = message.SerializeToString()
    full = entry_json(code, payload, **callee)
    lite = entry_lite_json(code, payload, *list(callee.values())[:3])
    assert full is not None and lite is not None
    return json.loads(full), json.loads(lite)


@pytest.mark.parametrize(("code", "message", "full", "lite"), COMMANDS)
def test_commands(code: M, message: Message, full: Any, lite: Any) -> None:
    variant = code.entry_label.removeprefix("Command: ")
    assert _both(code, message) == ({"Command": {variant: full}}, {"Command": {variant: lite}})


@pytest.mark.parametrize(("code", "message", "full", "lite"), NOTIFICATIONS)
def test_notifications(code: M, message: Message, full: Any, lite: Any) -> None:
    assert _both(code, message) == ({"Notification": full}, {"Notification": lite})


def test_a_call_shows_its_callee() -> None:
    call = pb.CallCommandMessage(
        service_name="Wf",
        handler_name="run",
        key="k",
        parameter=b"5",
        idempotency_key="once",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    full, lite = _both(
        M.CALL,
        call,
        callee_id="inv_1x",
        callee_service_ty="WORKFLOW",
        callee_handler_ty="WORKFLOW",
        callee_completion_retention_ms=7_200_500,
        callee_journal_retention_ms=0,
    )
    target = {
        "Workflow": {
            "name": "Wf",
            "key": "k",
            "handler": "run",
            "handler_ty": "Workflow",
            "scope": None,
        }
    }
    assert full == {
        "Command": {
            "Call": {
                "request": {
                    "invocation_id": "inv_1x",
                    "invocation_target": target,
                    "span_context": SPAN,
                    "parameter": [53],
                    "headers": [],
                    "idempotency_key": "once",
                    "completion_retention_duration": {"secs": 7200, "nanos": 500_000_000},
                    "journal_retention_duration": {"secs": 0, "nanos": 0},
                },
                "invocation_id_completion_id": 1,
                "result_completion_id": 2,
                "name": "",
            }
        }
    }
    assert lite == {
        "Command": {
            "Call": {
                "invocation_id": "inv_1x",
                "invocation_target": target,
                "invocation_id_completion_id": 1,
                "result_completion_id": 2,
            }
        }
    }


def test_a_send_without_its_callee_row_guesses_the_target() -> None:
    """The callee purged: the key says it is an object; restate's default retentions."""
    send = pb.OneWayCallCommandMessage(
        service_name="Counter",
        handler_name="add",
        key="k",
        invoke_time=1_000,
        invocation_id_notification_idx=1,
    )
    full, lite = _both(M.ONE_WAY_CALL, send)
    body = full["Command"]["OneWayCall"]
    assert body["request"]["invocation_id"] is None
    assert body["request"]["invocation_target"] == {
        "VirtualObject": {
            "name": "Counter",
            "key": "k",
            "handler": "add",
            "handler_ty": "Exclusive",
            "scope": None,
        }
    }
    assert body["request"]["completion_retention_duration"] == DAY
    assert body["invoke_time"] == 1_000 and body["invocation_id_completion_id"] == 1
    assert lite["Command"]["OneWayCall"]["invoke_time"] == 1_000


def test_attach_targets_carry_restates_partition_key() -> None:
    attach = pb.GetInvocationOutputCommandMessage(workflow_target=TARGET, result_completion_id=1)
    full, _ = _both(M.GET_INVOCATION_OUTPUT, attach)
    target = full["Command"]["GetInvocationOutput"]["target"]["Workflow"]
    assert (target["service_name"], target["key"], target["scope"]) == ("Wf", "k", None)
    assert isinstance(target["partition_key"], int) and target["partition_key"] >= 0


@pytest.mark.parametrize(
    ("code", "payload"), [(None, b""), (M.RUN, None), (M.RUN, b"\xff"), (0x7777, b"")]
)
def test_undecodable_entries_have_none(code: int | None, payload: bytes | None) -> None:
    assert entry_json(code, payload) is None and entry_lite_json(code, payload) is None
