"""The journal machine driven with byte fixtures: frames in, frames out."""

from __future__ import annotations

import hashlib

import pytest
from journal_bytes import RAW_ID, cmd, completion, decode_all, input_cmd, signal, start, types_of

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType as MT
from perdure.sdk._core.commands import Machine
from perdure.sdk._core.notifications import VOID, AllOf, CallInvocationId, Failure, StateKeys
from perdure.sdk._core.progress import (
    AnyCompleted,
    CancelSignalReceived,
    ExecuteRun,
    MachineError,
    Suspended,
    WaitExternalProgress,
)
from perdure.sdk.run_retry import ExponentialRetry


def ready(*chunks: bytes, version: int = 6) -> Machine:
    machine = Machine(version)
    machine.notify_input(b"".join(chunks))
    assert machine.is_ready_to_execute()
    machine.sys_input()
    return machine


def test_first_run_writes_commands_with_completion_ids_from_one() -> None:
    machine = ready(start(1), input_cmd(b"in"))
    assert not machine.is_replaying()
    run = machine.sys_run("r")
    sleep = machine.sys_sleep(1_000, "nap")
    call = machine.sys_call("Svc", "h", b"p", key="k", headers=[("a", "b")])
    send = machine.sys_send("Svc", "h", b"q", invoke_time_ms=5)
    state = machine.sys_get_state("s")
    awakeable_id, awakeable = machine.sys_awakeable()
    frames = decode_all(machine.take_output())
    assert [t for t, _ in frames] == [MT.RUN, MT.SLEEP, MT.CALL, MT.ONE_WAY_CALL, MT.GET_LAZY_STATE]
    assert frames[0][1].result_completion_id == 1
    assert frames[1][1].result_completion_id == 2
    # A call takes two ids: the invocation id notification first, then the result.
    assert (frames[2][1].invocation_id_notification_idx, frames[2][1].result_completion_id) == (
        3,
        4,
    )
    assert frames[3][1].invocation_id_notification_idx == 5
    assert frames[4][1].result_completion_id == 6
    assert awakeable_id.endswith("AAAAEQ")  # signal index 17
    handles = [run.handle, sleep, call.invocation_id_handle, call.result_handle, send, state]
    assert len({*handles, awakeable}) == 7
    assert isinstance(machine.do_progress(run.handle), ExecuteRun)
    machine.propose_run_completion(run.handle, b"42")
    proposal = decode_all(machine.take_output())
    assert [(t, m.result_completion_id, m.value) for t, m in proposal] == [
        (MT.PROPOSE_RUN_COMPLETION, 1, b"42")
    ]
    # RunFlush: the run resolves only once the server's RunCompletion arrives.
    assert isinstance(machine.do_progress(run.handle), WaitExternalProgress)
    machine.notify_input(completion(MT.RUN_COMPLETION, 1, value=b"42"))
    assert isinstance(machine.do_progress(run.handle), AnyCompleted)
    assert machine.take_notification(run.handle) == b"42"


JOURNAL = [
    input_cmd(b"x"),
    cmd(pb.RunCommandMessage(result_completion_id=1, name="r")),
    completion(MT.RUN_COMPLETION, 1, value=b"7"),
    cmd(pb.SleepCommandMessage(wake_up_time=123, result_completion_id=2, name="nap")),
    cmd(pb.SetStateCommandMessage(key=b"k", value=pb.Value(content=b"v"))),
]


def test_replay_writes_no_duplicates_and_skips_completed_runs() -> None:
    machine = ready(start(len(JOURNAL)), *JOURNAL)
    assert machine.is_replaying()
    run = machine.sys_run("r")
    assert run.replayed
    assert isinstance(machine.do_progress(run.handle), AnyCompleted)
    assert machine.take_notification(run.handle) == b"7"
    machine.sys_sleep(999_999, "nap")  # a different wake-up time is fine: names are compared
    assert machine.is_replaying()
    machine.sys_set_state("k", b"v")
    assert not machine.is_replaying()  # replay ends with the last journal command
    machine.sys_set_state("k", b"w")
    assert types_of(machine.take_output()) == [MT.SET_STATE]


def test_run_in_journal_without_completion_executes_again() -> None:
    journal = [input_cmd(), cmd(pb.RunCommandMessage(result_completion_id=1, name="r"))]
    machine = ready(start(2), *journal)
    run = machine.sys_run("r")
    assert not run.replayed
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    assert machine.take_output() == b""  # the Run command itself is not written again


@pytest.mark.parametrize(
    ("issue", "expected_type"),
    [(lambda m: m.sys_run("other"), 0x0411), (lambda m: m.sys_get_state("k"), 0x0407)],
)
def test_journal_mismatch_is_error_570_with_related_command(issue, expected_type) -> None:
    machine = ready(start(len(JOURNAL)), *JOURNAL)
    with pytest.raises(MachineError) as raised:
        issue(machine)
    assert raised.value.code == 570
    [(message_type, error)] = decode_all(machine.take_output())
    assert message_type is MT.ERROR
    assert (error.code, error.related_command_index, error.related_command_type) == (
        570,
        1,
        expected_type,
    )
    with pytest.raises(MachineError):
        machine.sys_sleep(1)  # the machine stays failed; nothing more is written
    assert machine.take_output() == b""


def test_one_way_call_invoke_time_is_not_compared() -> None:
    send = pb.OneWayCallCommandMessage(
        service_name="S", handler_name="h", invoke_time=1, invocation_id_notification_idx=1
    )
    machine = ready(start(2), input_cmd(), cmd(send))
    machine.sys_send("S", "h", b"", invoke_time_ms=99)
    with pytest.raises(MachineError):
        ready(start(2), input_cmd(), cmd(send)).sys_send("S", "other", b"")


def test_suspension_lists_completions_and_the_cancel_signal() -> None:
    machine = ready(start(1), input_cmd())
    sleep = machine.sys_sleep(10)
    _, awakeable = machine.sys_awakeable()
    machine.take_output()
    assert isinstance(machine.do_progress([sleep, awakeable]), WaitExternalProgress)
    assert machine.take_output() == b""  # no suspension while input is open
    machine.notify_input_closed()
    assert machine.do_progress([sleep, awakeable]) == Suspended()
    [(message_type, suspension)] = decode_all(machine.take_output())
    assert message_type is MT.SUSPENSION
    assert list(suspension.waiting_completions) == [1]
    assert sorted(suspension.waiting_signals) == [1, 17]


def test_no_suspension_while_a_run_is_executing() -> None:
    machine = ready(start(1), input_cmd())
    run = machine.sys_run("r")
    machine.notify_input_closed()
    assert isinstance(machine.do_progress(run.handle), ExecuteRun)
    assert machine.do_progress(run.handle) == WaitExternalProgress(False, True)
    machine.propose_run_completion(run.handle, b"1")
    assert machine.do_progress(run.handle) == Suspended()
    assert types_of(machine.take_output()) == [
        MT.RUN,
        MT.PROPOSE_RUN_COMPLETION,
        MT.SUSPENSION,
    ]


def test_eager_state_answers_locally_and_partial_state_falls_back_to_lazy() -> None:
    machine = ready(start(1, state={"a": b"1"}, partial=True), input_cmd())
    known, unknown = machine.sys_get_state("a"), machine.sys_get_state("b")
    assert machine.take_notification(known) == b"1"
    assert machine.take_notification(unknown) is None
    frames = decode_all(machine.take_output())
    assert [t for t, _ in frames] == [MT.GET_EAGER_STATE, MT.GET_LAZY_STATE]
    assert frames[1][1].result_completion_id == 2  # GetState takes an id even when eager
    machine.notify_input(completion(MT.GET_LAZY_STATE_COMPLETION, 2))
    assert isinstance(machine.do_progress(unknown), AnyCompleted)
    assert machine.take_notification(unknown) == VOID


def test_complete_state_map_answers_missing_keys_and_keys_eagerly() -> None:
    machine = ready(start(1, state={"b": b"2", "a": b"1"}, partial=False), input_cmd())
    machine.sys_clear_state("a")
    missing, keys = machine.sys_get_state("zz"), machine.sys_get_state_keys()
    assert machine.take_notification(missing) == VOID
    assert machine.take_notification(keys) == StateKeys(("b",))
    assert types_of(machine.take_output()) == [
        MT.CLEAR_STATE,
        MT.GET_EAGER_STATE,
        MT.GET_EAGER_STATE_KEYS,
    ]


def test_clear_all_makes_the_local_view_complete() -> None:
    machine = ready(start(1), input_cmd())
    machine.sys_clear_all_state()
    machine.sys_get_state("x")
    assert types_of(machine.take_output()) == [MT.CLEAR_ALL_STATE, MT.GET_EAGER_STATE]


def test_cancel_signal_cancels_child_calls_but_not_sends() -> None:
    machine = ready(start(1), input_cmd())
    call = machine.sys_call("S", "h", b"")
    machine.sys_send("S", "h", b"")
    sleep = machine.sys_sleep(10)
    machine.take_output()
    machine.notify_input(signal(1))
    # The child's id is not known yet: it must arrive before the cancel can be sent.
    assert isinstance(machine.do_progress(sleep), WaitExternalProgress)
    ids = completion(MT.CALL_INVOCATION_ID_COMPLETION, 1, invocation_id="inv_c")
    machine.notify_input(ids)
    assert machine.do_progress(sleep) == CancelSignalReceived()
    [(message_type, send_signal)] = decode_all(machine.take_output())
    assert message_type is MT.SEND_SIGNAL
    assert (send_signal.target_invocation_id, send_signal.idx) == ("inv_c", 1)
    assert send_signal.HasField("void")
    assert machine.take_notification(call.invocation_id_handle) == CallInvocationId("inv_c")


def test_buffered_signal_completes_an_awakeable_created_later() -> None:
    machine = ready(start(2), input_cmd(), signal(17, failure=(400, "rejected")))
    _, handle = machine.sys_awakeable()
    assert isinstance(machine.do_progress(handle), AnyCompleted)
    assert machine.take_notification(handle) == Failure(400, "rejected")


def test_run_retry_exhaustion_proposes_a_terminal_failure() -> None:
    journal = [input_cmd(), cmd(pb.RunCommandMessage(result_completion_id=1, name="r"))]
    machine = ready(start(2, retry_count=2, duration_ms=500), *journal)
    run = machine.sys_run("r")
    assert isinstance(machine.do_progress(run.handle), ExecuteRun)
    policy = ExponentialRetry(max_attempts=3)
    machine.propose_run_failure(run.handle, Failure(500, "boom"), policy=policy)
    [(message_type, proposal)] = decode_all(machine.take_output())
    assert message_type is MT.PROPOSE_RUN_COMPLETION
    assert (proposal.failure.code, proposal.failure.message) == (500, "boom")


def test_run_retry_within_policy_is_an_error_message_for_the_run() -> None:
    journal = [input_cmd(), cmd(pb.RunCommandMessage(result_completion_id=1, name="r"))]
    machine = ready(start(2, retry_count=1, duration_ms=500), *journal)
    run = machine.sys_run("r")
    machine.do_progress(run.handle)
    policy = ExponentialRetry(initial_interval_ms=100, max_attempts=5)
    with pytest.raises(MachineError):
        machine.propose_run_failure(
            run.handle, Failure(503, "flaky"), stacktrace="trace", policy=policy
        )
    [(_, error)] = decode_all(machine.take_output())
    assert (error.code, error.message, error.stacktrace) == (503, "flaky", "trace")
    assert (error.related_command_index, error.related_command_name) == (1, "r")
    assert error.related_command_type == 0x0411
    assert error.next_retry_delay == 200  # second retry: 100 ms * 2


def test_random_seed_v6_from_start_v5_from_the_id() -> None:
    v6 = Machine(6)
    v6.notify_input(start(1, seed=77) + input_cmd())
    assert v6.sys_input().random_seed == 77
    v5 = Machine(5)
    v5.notify_input(start(1, seed=77) + input_cmd())
    expected = int.from_bytes(hashlib.sha256(RAW_ID).digest()[:8], "big")
    assert v5.sys_input().random_seed == expected


def test_failure_metadata_is_dropped_on_v5() -> None:
    for version, expected in [(5, []), (6, [("k", "v")])]:
        machine = ready(start(1), input_cmd(), version=version)
        machine.sys_write_output(Failure(400, "bad", (("k", "v"),)))
        [(_, output)] = decode_all(machine.take_output())
        assert [(m.key, m.value) for m in output.failure.metadata] == expected


@pytest.mark.parametrize("code", [0x0004, 0x0007, 0x0001])
def test_control_frames_from_the_server_are_protocol_violations(code: int) -> None:
    machine = ready(start(1), input_cmd())
    machine.notify_input(code.to_bytes(2, "big") + b"\x00\x00\x00\x00\x00\x00")
    [(_, error)] = decode_all(machine.take_output())
    assert error.code == 571


def test_all_of_waits_for_every_handle() -> None:
    machine = ready(start(1), input_cmd())
    a, b = machine.sys_sleep(1), machine.sys_sleep(2)
    machine.notify_input(completion(MT.SLEEP_COMPLETION, 2))
    assert isinstance(machine.do_progress(AllOf((a, b))), WaitExternalProgress)
    machine.notify_input(completion(MT.SLEEP_COMPLETION, 1))
    assert isinstance(machine.do_progress(AllOf((a, b))), AnyCompleted)


def test_end_closes_the_output() -> None:
    machine = ready(start(1), input_cmd())
    machine.sys_write_output(b"1")
    machine.sys_end()
    assert types_of(machine.take_output()) == [MT.OUTPUT, MT.END]
    assert machine.is_output_closed
    machine.notify_input(completion(MT.SLEEP_COMPLETION, 1))  # late input is ignored
    with pytest.raises(MachineError) as raised:
        machine.sys_sleep(1)
    assert raised.value.code == 598
    assert machine.take_output() == b""
