"""The handler-facing commands of the journal machine (``sys_*``).

Each method builds one protocol command and hands it to the journal mechanics of
`perdure.sdk._core.machine.JournalMachine`, which either checks it against the stored journal
(replay) or writes it to the server (processing). Completion ids and signal indexes are
allocated here exactly as the official cores do: completion ids from 1 (a call takes two,
a state read always takes one), awakeable signal indexes from 17.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import PROTOCOL_VIOLATION
from perdure.protocol.ids import awakeable_id_str
from perdure.protocol.messages import MessageType
from perdure.sdk import run_retry
from perdure.sdk._core.machine import JournalMachine, PendingRun, State, TrackedCall
from perdure.sdk._core.notifications import VOID, CompletionId, Failure, SignalIndex, StateKeys
from perdure.sdk._core.progress import (
    CallHandles,
    CommandRef,
    Input,
    MachineError,
    RunHandle,
)


class Machine(JournalMachine):
    """One attempt of one invocation, with the commands a handler issues."""

    # -- Commands: input, output, end ---------------------------------------------------------

    def sys_input(self) -> Input:
        """Consume the Input command (always the first journal entry)."""
        self._enter(MessageType.INPUT, "")
        if self._state is not State.REPLAYING:
            self._fail_unexpected(MessageType.INPUT)
        actual_type, command = self._pop_command(MessageType.INPUT)
        if not isinstance(command, pb.InputCommandMessage):
            self._fail(self._type_mismatch(actual_type, MessageType.INPUT))
        assert isinstance(command, pb.InputCommandMessage)
        start = self._expect_start()
        if self.protocol_version >= 6:
            seed = start.random_seed
        else:
            seed = int.from_bytes(hashlib.sha256(start.id).digest()[:8], "big")
        return Input(
            invocation_id=start.debug_id,
            random_seed=seed,
            key=start.key,
            headers=tuple((h.key, h.value) for h in command.headers),
            body=command.value.content,
        )

    def sys_write_output(self, value: bytes | Failure, name: str = "") -> None:
        message = pb.OutputCommandMessage(name=name)
        if isinstance(value, Failure):
            message.failure.CopyFrom(self._failure(value))
        else:
            message.value.content = value
        self._replay_or_write(MessageType.OUTPUT, message, name)

    def sys_end(self) -> None:
        if self._state is State.CLOSED and self._error is None:
            return  # already ended or suspended
        if self._state is not State.PROCESSING:
            self._fail(MachineError(PROTOCOL_VIOLATION, f"end in state {self._state.value}"))
        self._send(pb.EndMessage())
        self._close()

    # -- Commands: state ----------------------------------------------------------------------

    def sys_get_state(self, key: str, name: str = "") -> int:
        """Eager when the value is known locally (GetEagerState), else lazy (GetLazyState)."""
        completion_id = self._new_completion_id()
        nid = CompletionId(completion_id)
        if self._state is State.REPLAYING:
            self._enter(MessageType.GET_EAGER_STATE, name)
            handle = self._notifications.new_handle(nid)
            actual = self._replay_get(MessageType.GET_LAZY_STATE, completion_id, key, name)
            if isinstance(actual, pb.GetEagerStateCommandMessage):
                if not actual.HasField("value") and not actual.HasField("void"):
                    self._fail(MachineError(PROTOCOL_VIOLATION, "empty GetEagerState result"))
                value = actual.value.content if actual.HasField("value") else VOID
                self._notifications.insert_ready(nid, value)
            return handle
        self._expect_processing("get state")
        self._processing_first_entry = False
        handle = self._notifications.new_handle(nid)
        if key in self._eager or not self._eager_partial:
            known = self._eager.get(key)
            eager = pb.GetEagerStateCommandMessage(key=key.encode(), name=name)
            if known is None:
                eager.void.SetInParent()
            else:
                eager.value.content = known
            self._notifications.insert_ready(nid, VOID if known is None else known)
            self._enter(MessageType.GET_EAGER_STATE, name)
            self._send(eager)
        else:
            self._enter(MessageType.GET_LAZY_STATE, name)
            self._send(
                pb.GetLazyStateCommandMessage(
                    key=key.encode(), result_completion_id=completion_id, name=name
                )
            )
        return handle

    def sys_get_state_keys(self, name: str = "") -> int:
        completion_id = self._new_completion_id()
        nid = CompletionId(completion_id)
        if self._state is State.REPLAYING:
            self._enter(MessageType.GET_EAGER_STATE_KEYS, name)
            handle = self._notifications.new_handle(nid)
            actual = self._replay_get(MessageType.GET_LAZY_STATE_KEYS, completion_id, None, name)
            if isinstance(actual, pb.GetEagerStateKeysCommandMessage):
                keys = tuple(k.decode(errors="replace") for k in actual.value.keys)
                self._notifications.insert_ready(nid, StateKeys(keys))
            return handle
        self._expect_processing("get state keys")
        self._processing_first_entry = False
        handle = self._notifications.new_handle(nid)
        if not self._eager_partial:
            keys = tuple(sorted(k for k, v in self._eager.items() if v is not None))
            eager = pb.GetEagerStateKeysCommandMessage(name=name)
            eager.value.SetInParent()
            eager.value.keys.extend(k.encode() for k in keys)
            self._notifications.insert_ready(nid, StateKeys(keys))
            self._enter(MessageType.GET_EAGER_STATE_KEYS, name)
            self._send(eager)
        else:
            self._enter(MessageType.GET_LAZY_STATE_KEYS, name)
            self._send(
                pb.GetLazyStateKeysCommandMessage(result_completion_id=completion_id, name=name)
            )
        return handle

    def sys_set_state(self, key: str, value: bytes, name: str = "") -> None:
        self._eager[key] = value
        message = pb.SetStateCommandMessage(key=key.encode(), name=name)
        message.value.content = value
        self._replay_or_write(MessageType.SET_STATE, message, name)

    def sys_clear_state(self, key: str, name: str = "") -> None:
        self._eager[key] = None
        message = pb.ClearStateCommandMessage(key=key.encode(), name=name)
        self._replay_or_write(MessageType.CLEAR_STATE, message, name)

    def sys_clear_all_state(self, name: str = "") -> None:
        # After a clear-all the local view is complete: every later read can be eager.
        self._eager = {}
        self._eager_partial = False
        self._replay_or_write(MessageType.CLEAR_ALL_STATE, pb.ClearAllStateCommandMessage(), name)

    # -- Commands: timers, calls, signals -----------------------------------------------------

    def sys_sleep(self, wake_up_time_ms: int, name: str = "") -> int:
        """A timer firing at `wake_up_time_ms` (absolute, ms since the Unix epoch)."""
        completion_id = self._new_completion_id()
        message = pb.SleepCommandMessage(
            wake_up_time=wake_up_time_ms, result_completion_id=completion_id, name=name
        )
        return self._completable(MessageType.SLEEP, message, name, completion_id)

    def sys_call(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        name: str = "",
    ) -> CallHandles:
        self._check_idempotency_key(idempotency_key)
        id_completion = self._new_completion_id()
        result_completion = self._new_completion_id()
        message = pb.CallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            headers=[pb.Header(key=k, value=v) for k, v in headers],
            key=key or "",
            invocation_id_notification_idx=id_completion,
            result_completion_id=result_completion,
            name=name,
        )
        if idempotency_key is not None:
            message.idempotency_key = idempotency_key
        self._replay_or_write(MessageType.CALL, message, name)
        id_handle = self._notifications.new_handle(CompletionId(id_completion))
        result_handle = self._notifications.new_handle(CompletionId(result_completion))
        if self._implicit_cancellation:
            self._tracked.append(TrackedCall(id_handle))
        return CallHandles(id_handle, result_handle)

    def sys_send(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        *,
        key: str | None = None,
        invoke_time_ms: int = 0,
        idempotency_key: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        name: str = "",
    ) -> int:
        """A one-way call; the handle resolves to the new invocation's id."""
        self._check_idempotency_key(idempotency_key)
        completion_id = self._new_completion_id()
        message = pb.OneWayCallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            invoke_time=invoke_time_ms,
            headers=[pb.Header(key=k, value=v) for k, v in headers],
            key=key or "",
            invocation_id_notification_idx=completion_id,
            name=name,
        )
        if idempotency_key is not None:
            message.idempotency_key = idempotency_key
        return self._completable(MessageType.ONE_WAY_CALL, message, name, completion_id)

    def sys_awakeable(self) -> tuple[str, int]:
        """A new awakeable: (its id for other parties, its handle). Writes no command."""
        if self._state not in (State.REPLAYING, State.PROCESSING):
            self._fail(MachineError(PROTOCOL_VIOLATION, f"awakeable in {self._state.value}"))
        index = self._next_signal_index
        self._next_signal_index += 1
        handle = self._notifications.new_handle(SignalIndex(index))
        return awakeable_id_str(self._expect_start().id, index), handle

    def sys_complete_awakeable(self, awakeable_id: str, value: bytes | Failure) -> None:
        message = pb.CompleteAwakeableCommandMessage(awakeable_id=awakeable_id)
        if isinstance(value, Failure):
            message.failure.CopyFrom(self._failure(value))
        else:
            message.value.content = value
        self._replay_or_write(MessageType.COMPLETE_AWAKEABLE, message, "")

    def sys_attach_invocation(self, invocation_id: str) -> int:
        completion_id = self._new_completion_id()
        message = pb.AttachInvocationCommandMessage(
            invocation_id=invocation_id, result_completion_id=completion_id
        )
        return self._completable(MessageType.ATTACH_INVOCATION, message, "", completion_id)

    def sys_get_invocation_output(self, invocation_id: str) -> int:
        completion_id = self._new_completion_id()
        message = pb.GetInvocationOutputCommandMessage(
            invocation_id=invocation_id, result_completion_id=completion_id
        )
        return self._completable(MessageType.GET_INVOCATION_OUTPUT, message, "", completion_id)

    # -- Commands: durable promises -----------------------------------------------------------

    def sys_get_promise(self, key: str) -> int:
        cid = self._new_completion_id()
        message = pb.GetPromiseCommandMessage(key=key, result_completion_id=cid)
        return self._completable(MessageType.GET_PROMISE, message, "", cid)

    def sys_peek_promise(self, key: str) -> int:
        cid = self._new_completion_id()
        message = pb.PeekPromiseCommandMessage(key=key, result_completion_id=cid)
        return self._completable(MessageType.PEEK_PROMISE, message, "", cid)

    def sys_complete_promise(self, key: str, value: bytes | Failure) -> int:
        cid = self._new_completion_id()
        message = pb.CompletePromiseCommandMessage(key=key, result_completion_id=cid)
        if isinstance(value, Failure):
            message.completion_failure.CopyFrom(self._failure(value))
        else:
            message.completion_value.content = value
        return self._completable(MessageType.COMPLETE_PROMISE, message, "", cid)

    # -- Commands: runs -----------------------------------------------------------------------

    def sys_run(self, name: str = "") -> RunHandle:
        """A side effect. Unless replayed, `do_progress` asks to execute it when awaited."""
        cid = self._new_completion_id()
        message = pb.RunCommandMessage(result_completion_id=cid, name=name)
        handle = self._completable(MessageType.RUN, message, name, cid)
        if self._notifications.is_known(CompletionId(cid)):
            return RunHandle(handle, replayed=True)
        self._runs[handle] = PendingRun(self._command_index, name)
        return RunHandle(handle, replayed=False)

    def propose_run_completion(self, handle: int, result: bytes | Failure) -> None:
        """Journal a run's value or terminal failure (ProposeRunCompletion)."""
        if self._state is not State.PROCESSING:
            return  # the attempt moved on (closed); the proposal is irrelevant now
        self._runs.pop(handle, None)
        self._send_proposal(handle, result)

    def propose_run_failure(
        self,
        handle: int,
        failure: Failure,
        *,
        stacktrace: str = "",
        attempt_duration_ms: int = 0,
        policy: run_retry.RunRetryPolicy = run_retry.InfiniteRetry(),  # noqa: B008
    ) -> None:
        """A run failed with a retryable error: retry the attempt, or give up (terminal)."""
        if self._state is not State.PROCESSING:
            return
        run = self._runs.pop(handle, None) or PendingRun(self._command_index, "")
        count, elapsed = self._entry_retry_info()
        decision = run_retry.next_retry(policy, count + 1, elapsed + attempt_duration_ms)
        if isinstance(decision, run_retry.RetryAfter):
            self._fail(
                MachineError(
                    failure.code,
                    failure.message,
                    stacktrace=stacktrace,
                    related=CommandRef(run.command_index, MessageType.RUN, run.name),
                    next_retry_delay_ms=decision.delay_ms,
                )
            )
        self._send_proposal(handle, Failure(failure.code, failure.message))

    def _entry_retry_info(self) -> tuple[int, int]:
        # Only the first entry after replay continues the retry loop of the previous attempt.
        if not self._processing_first_entry:
            return 0, 0
        start = self._expect_start()
        count = start.retry_count_since_last_stored_entry
        return count, (0 if count == 0 else start.duration_since_last_stored_entry)

    def _send_proposal(self, handle: int, result: bytes | Failure) -> None:
        nid = self._notifications.id_of(handle)
        assert isinstance(nid, CompletionId)
        message = pb.ProposeRunCompletionMessage(result_completion_id=nid.value)
        if isinstance(result, Failure):
            message.failure.CopyFrom(self._failure(result))
        else:
            message.value = result
        self._send(message)
