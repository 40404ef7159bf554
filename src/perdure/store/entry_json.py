"""`sys_journal.entry_json`: a journal entry as restate-server shows it, the serde JSON of
its `journal_v2::Entry` (`{"Command":{"Sleep":{"wake_up_time":…,"completion_id":1,…}}}`,
bytes as arrays of numbers), so Restate's CLI and UI, which parse that column, read
perdure's journals as they read restate's.

A stored entry is the protocol message the SDK sent; restate's entry also holds what the
server decided about it. For a Call or OneWayCall that is the callee: its invocation id
(perdure journals it as the CallInvocationId notification right after the call), its
handler type and retentions (from the callee's invocation row). The views pass them in;
without them (the callee purged) the target is guessed from the key and the retentions
are restate's default. perdure keeps no span context with a call: it shows the empty one,
as restate-server does when tracing is off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import partition_key_for
from perdure.protocol.messages import MessageType, decode_payload

_DEFAULT_RETENTION_MS = 24 * 3600 * 1000
# restate's ServiceInvocationSpanContext when no tracing exporter is configured.
_EMPTY_SPAN_CONTEXT = {
    "span_context": {
        "trace_id": [0] * 16,
        "span_id": [0] * 8,
        "trace_flags": 0,
        "is_remote": False,
        "trace_state": "",
    },
    "cause": None,
}
_HANDLER_TYPES = {"EXCLUSIVE": "Exclusive", "SHARED": "Shared", "WORKFLOW": "Workflow"}


def entry_json(
    code: int | None,
    payload: bytes | None,
    callee_id: str | None = None,
    callee_service_ty: str | None = None,
    callee_handler_ty: str | None = None,
    callee_completion_retention_ms: int | None = None,
    callee_journal_retention_ms: int | None = None,
) -> str | None:
    """restate's JSON of the entry stored as (`code`, `payload`); None if undecodable."""
    callee = _Callee(
        callee_id,
        callee_service_ty,
        callee_handler_ty,
        callee_completion_retention_ms,
        callee_journal_retention_ms,
    )
    entry = _decoded_entry(code, payload, callee)
    return None if entry is None else _dumps(entry)


def entry_lite_json(
    code: int | None,
    payload: bytes | None,
    callee_id: str | None = None,
    callee_service_ty: str | None = None,
    callee_handler_ty: str | None = None,
) -> str | None:
    """restate's `entry_lite_json`: the entry without its payloads (`EntryLite`), e.g.
    `{"Command":{"SetState":{"key":"stage"}}}`; None if undecodable."""
    callee = _Callee(callee_id, callee_service_ty, callee_handler_ty, None, None)
    entry = _decoded_entry(code, payload, callee)
    if entry is None:
        return None
    if "Command" in entry:
        ((variant, body),) = entry["Command"].items()
        fields, named = _LITE_COMMANDS[variant]
        body = {**body.pop("request", {}), **body}  # a call's callee is in its request
        lite = {f: _result_kind(body[f]) if f == "result" else body[f] for f in fields}
        if named and body.get("name"):
            lite["name"] = body["name"]
        return _dumps({"Command": {variant: lite}})
    notification = entry["Notification"]
    if "Signal" in notification:
        signal = notification["Signal"]
        ((kind, value),) = signal["id"].items()
        result = _result_kind(signal["result"])
        lite = {"ty": "Signal", "id": {f"Signal{kind}": value}, "result": result}
    else:
        ((variant, body),) = notification["Completion"].items()
        lite = {
            "ty": {"Completion": variant},
            "id": {"CompletionId": body["completion_id"]},
            "result": _LITE_NOTIFICATION_RESULTS.get(variant) or _result_kind(body["result"]),
        }
    return _dumps({"Notification": lite})


def _decoded_entry(code: int | None, payload: bytes | None, callee: _Callee) -> Any:
    if code is None or payload is None:
        return None
    try:
        message_type = MessageType(code)
        message = decode_payload(message_type, bytes(payload))
        return _entry(message_type, message, callee)
    except Exception:
        return None


def _dumps(entry: Any) -> str:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def _result_kind(result: Any) -> str:
    """ "Void", "Success" or "Failure" of a full entry's result."""
    return result if isinstance(result, str) else next(iter(result))


# Each command's fields in its lite form, and whether a non-empty name is kept.
_LITE_COMMANDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "Input": ((), False),
    "Output": (("result",), False),
    "GetLazyState": (("key", "completion_id"), False),
    "SetState": (("key",), False),
    "ClearState": (("key",), False),
    "ClearAllState": ((), False),
    "GetLazyStateKeys": (("completion_id",), False),
    "GetEagerState": (("key", "result"), False),
    "GetEagerStateKeys": ((), False),
    "GetPromise": (("key", "completion_id"), False),
    "PeekPromise": (("key", "completion_id"), False),
    "CompletePromise": (("key", "completion_id"), False),
    "Sleep": (("wake_up_time", "completion_id"), True),
    "Call": (
        (
            "invocation_id",
            "invocation_target",
            "invocation_id_completion_id",
            "result_completion_id",
        ),
        True,
    ),
    "OneWayCall": (
        ("invocation_id", "invocation_target", "invoke_time", "invocation_id_completion_id"),
        True,
    ),
    "SendSignal": (("target_invocation_id", "signal_id", "result"), False),
    "Run": (("completion_id",), True),
    "AttachInvocation": (("target", "completion_id"), False),
    "GetInvocationOutput": (("target", "completion_id"), False),
    "CompleteAwakeable": (("id", "result"), False),
}
_LITE_NOTIFICATION_RESULTS = {
    "Sleep": "Void",
    "CallInvocationId": "InvocationId",
    "GetLazyStateKeys": "StateKeys",
}


@dataclass(frozen=True, slots=True)
class _Callee:
    """What the views know of a call's callee (all None when they know nothing)."""

    invocation_id: str | None
    service_ty: str | None
    handler_ty: str | None
    completion_ms: int | None
    journal_ms: int | None


def _entry(message_type: MessageType, message: Message, callee: _Callee) -> Any:
    variant = message_type.entry_label.split(": ", 1)[1]
    if message_type.is_command:
        body = _COMMANDS[message_type](message, callee)
        return {"Command": {variant: body}}
    if message_type == MessageType.SIGNAL:
        assert isinstance(message, pb.NotificationTemplate)
        return {"Notification": {"Signal": {"id": _signal_id(message), "result": _result(message)}}}
    if message_type.entry_label.startswith("Notification: "):
        assert isinstance(message, pb.NotificationTemplate)
        return {"Notification": {"Completion": {variant: _completion(message_type, message)}}}
    return None


# ---- values ------------------------------------------------------------------------------


def _bytes(data: bytes) -> list[int]:
    return list(data)


def _text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def _failure(failure: pb.Failure) -> dict[str, Any]:
    out: dict[str, Any] = {"code": failure.code, "message": failure.message}
    if failure.metadata:
        out["metadata"] = [{"key": m.key, "value": m.value} for m in failure.metadata]
    return out


def _headers(headers: Any) -> list[dict[str, str]]:
    return [{"name": h.key, "value": h.value} for h in headers]


def _duration(ms: int) -> dict[str, int]:
    return {"secs": ms // 1000, "nanos": (ms % 1000) * 1_000_000}


def _result(message: Message, value: str = "value", failure: str = "failure") -> Any:
    """A oneof result: "Void", {"Success": bytes} or {"Failure": …}."""
    field = message.WhichOneof("result") if "result" in message.DESCRIPTOR.oneofs_by_name else None
    if field is None:
        field = next((f for f in (value, failure) if message.HasField(f)), None)
    if field == value:
        return {"Success": _bytes(getattr(message, value).content)}
    if field == failure:
        return {"Failure": _failure(getattr(message, failure))}
    return "Void"


def _signal_id(message: Message) -> dict[str, Any]:
    which = message.WhichOneof(
        "signal_id" if isinstance(message, pb.SendSignalCommandMessage) else "id"
    )
    if which in ("signal_name", "name"):
        return {"Name": getattr(message, which)}
    return {"Index": getattr(message, which or "idx")}


# ---- commands ----------------------------------------------------------------------------


def _named(body: dict[str, Any], message: Message) -> dict[str, Any]:
    body["name"] = getattr(message, "name", "")
    return body


def _input(m: pb.InputCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"headers": _headers(m.headers), "payload": _bytes(m.value.content)}, m)


def _output(m: pb.OutputCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"result": _result(m)}, m)


def _keyed(m: Any, _: _Callee) -> dict[str, Any]:
    body: dict[str, Any] = {"key": _text(m.key)}
    if m.DESCRIPTOR.fields_by_name.get("result_completion_id") is not None:
        body["completion_id"] = m.result_completion_id
    return _named(body, m)


def _completion_only(m: Any, _: _Callee) -> dict[str, Any]:
    return _named({"completion_id": m.result_completion_id}, m)


def _set_state(m: pb.SetStateCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"key": _text(m.key), "value": _bytes(m.value.content)}, m)


def _clear_all(m: pb.ClearAllStateCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({}, m)


def _eager_state(m: pb.GetEagerStateCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"key": _text(m.key), "result": _result(m)}, m)


def _eager_keys(m: pb.GetEagerStateKeysCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"state_keys": [_text(k) for k in m.value.keys]}, m)


def _complete_promise(m: pb.CompletePromiseCommandMessage, _: _Callee) -> dict[str, Any]:
    value = _result(m, "completion_value", "completion_failure")
    return _named({"key": m.key, "value": value, "completion_id": m.result_completion_id}, m)


def _sleep(m: pb.SleepCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"wake_up_time": m.wake_up_time, "completion_id": m.result_completion_id}, m)


def _target(m: pb.CallCommandMessage | pb.OneWayCallCommandMessage, callee: _Callee) -> Any:
    scope = m.scope if m.HasField("scope") else None
    service_ty = callee.service_ty or ("VIRTUAL_OBJECT" if m.key else "SERVICE")
    if service_ty == "SERVICE":
        return {"Service": {"name": m.service_name, "handler": m.handler_name, "scope": scope}}
    variant = "Workflow" if service_ty == "WORKFLOW" else "VirtualObject"
    default = "Workflow" if variant == "Workflow" else "Exclusive"
    return {
        variant: {
            "name": m.service_name,
            "key": m.key,
            "handler": m.handler_name,
            "handler_ty": _HANDLER_TYPES.get(callee.handler_ty or "", default),
            "scope": scope,
        }
    }


def _request(m: pb.CallCommandMessage | pb.OneWayCallCommandMessage, callee: _Callee) -> Any:
    completion_ms = callee.completion_ms
    journal_ms = callee.journal_ms
    request: dict[str, Any] = {
        "invocation_id": callee.invocation_id,
        "invocation_target": _target(m, callee),
        "span_context": _EMPTY_SPAN_CONTEXT,
        "parameter": _bytes(m.parameter),
        "headers": _headers(m.headers),
        "idempotency_key": m.idempotency_key if m.HasField("idempotency_key") else None,
        "completion_retention_duration": _duration(
            _DEFAULT_RETENTION_MS if completion_ms is None else completion_ms
        ),
        "journal_retention_duration": _duration(
            _DEFAULT_RETENTION_MS if journal_ms is None else journal_ms
        ),
    }
    if m.HasField("limit_key"):
        request["limit_key"] = m.limit_key
    return request


def _call(m: pb.CallCommandMessage, callee: _Callee) -> dict[str, Any]:
    return _named(
        {
            "request": _request(m, callee),
            "invocation_id_completion_id": m.invocation_id_notification_idx,
            "result_completion_id": m.result_completion_id,
        },
        m,
    )


def _one_way_call(m: pb.OneWayCallCommandMessage, callee: _Callee) -> dict[str, Any]:
    return _named(
        {
            "request": _request(m, callee),
            "invoke_time": m.invoke_time,
            "invocation_id_completion_id": m.invocation_id_notification_idx,
        },
        m,
    )


def _send_signal(m: pb.SendSignalCommandMessage, _: _Callee) -> dict[str, Any]:
    return {
        "target_invocation_id": m.target_invocation_id,
        "signal_id": _signal_id(m),
        "result": _result(m),
        "name": m.entry_name,
    }


def _attach_target(
    m: pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage,
) -> Any:
    which = m.WhichOneof("target")
    if which == "workflow_target":
        w = m.workflow_target
        scope = w.scope if w.HasField("scope") else None
        return {
            "Workflow": {
                "service_name": w.workflow_name,
                "key": w.workflow_key,
                "partition_key": partition_key_for(scope or w.workflow_key),
                "scope": scope,
            }
        }
    if which == "idempotent_request_target":
        t = m.idempotent_request_target
        key = t.service_key if t.HasField("service_key") else None
        scope = t.scope if t.HasField("scope") else None
        return {
            "IdempotentRequest": {
                "service_name": t.service_name,
                "service_key": key,
                "service_handler": t.handler_name,
                "idempotency_key": t.idempotency_key,
                "scope": scope,
                "partition_key": partition_key_for(
                    scope or (key if key is not None else t.idempotency_key)
                ),
            }
        }
    return {"InvocationId": m.invocation_id}


def _attach(
    m: pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage, _: _Callee
) -> dict[str, Any]:
    return _named({"target": _attach_target(m), "completion_id": m.result_completion_id}, m)


def _complete_awakeable(m: pb.CompleteAwakeableCommandMessage, _: _Callee) -> dict[str, Any]:
    return _named({"id": m.awakeable_id, "result": _result(m)}, m)


_COMMANDS: dict[MessageType, Any] = {
    MessageType.INPUT: _input,
    MessageType.OUTPUT: _output,
    MessageType.GET_LAZY_STATE: _keyed,
    MessageType.SET_STATE: _set_state,
    MessageType.CLEAR_STATE: _keyed,
    MessageType.CLEAR_ALL_STATE: _clear_all,
    MessageType.GET_LAZY_STATE_KEYS: _completion_only,
    MessageType.GET_EAGER_STATE: _eager_state,
    MessageType.GET_EAGER_STATE_KEYS: _eager_keys,
    MessageType.GET_PROMISE: _keyed,
    MessageType.PEEK_PROMISE: _keyed,
    MessageType.COMPLETE_PROMISE: _complete_promise,
    MessageType.SLEEP: _sleep,
    MessageType.CALL: _call,
    MessageType.ONE_WAY_CALL: _one_way_call,
    MessageType.SEND_SIGNAL: _send_signal,
    MessageType.RUN: _completion_only,
    MessageType.ATTACH_INVOCATION: _attach,
    MessageType.GET_INVOCATION_OUTPUT: _attach,
    MessageType.COMPLETE_AWAKEABLE: _complete_awakeable,
}


# ---- notifications -----------------------------------------------------------------------


def _completion(message_type: MessageType, m: pb.NotificationTemplate) -> dict[str, Any]:
    body: dict[str, Any] = {"completion_id": m.completion_id}
    if message_type == MessageType.SLEEP_COMPLETION:
        return body
    if message_type == MessageType.CALL_INVOCATION_ID_COMPLETION:
        body["invocation_id"] = m.invocation_id
    elif message_type == MessageType.GET_LAZY_STATE_KEYS_COMPLETION:
        body["state_keys"] = [_text(k) for k in m.state_keys.keys]
    else:
        body["result"] = _result(m)
    return body
