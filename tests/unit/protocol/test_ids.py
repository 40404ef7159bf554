from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from perdure.protocol.ids import (
    AwakeableId,
    InvalidIdError,
    InvocationId,
    awakeable_id_str,
    base62_decode,
    base62_encode,
    idempotent_request_uuid,
    new_deployment_id,
    workflow_run_uuid,
)

# Captured from restate-server 1.7.12 (reference restate-protocol.md, appendix A).
CAPTURED_RAW = bytes.fromhex("842efcb12c916e58fbccc4fb004202e22f4609fd7f4d41b5")
CAPTURED_STR = "inv_17AIHiTltkYA5w1sby5k7LG4MuXiXMo0BB"


def test_invocation_id_matches_restate_bit_for_bit() -> None:
    invocation_id = InvocationId.from_bytes(CAPTURED_RAW)
    assert str(invocation_id) == CAPTURED_STR
    assert InvocationId.parse(CAPTURED_STR).to_bytes() == CAPTURED_RAW


def test_awakeable_id_matches_restate() -> None:
    captured = "sign_1PjHevaF6-7PQhP_z9oibwivr5Ylba9_ZAAAAEQ"
    parsed = AwakeableId.parse(captured)
    assert parsed.signal_index == 17
    assert str(parsed) == captured
    assert awakeable_id_str(parsed.invocation_id.to_bytes(), 17) == captured


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**128 - 1))
def test_invocation_id_round_trip(pk: int, uuid: int) -> None:
    invocation_id = InvocationId(pk, uuid)
    text = str(invocation_id)
    assert len(text) == 38
    assert InvocationId.parse(text) == invocation_id
    assert InvocationId.from_bytes(invocation_id.to_bytes()) == invocation_id


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_awakeable_id_round_trip(pk: int, index: int) -> None:
    awakeable = AwakeableId(InvocationId(pk, 12345), index)
    assert AwakeableId.parse(str(awakeable)) == awakeable


@given(st.integers(0, 62**11 - 1))
def test_base62_round_trip(n: int) -> None:
    assert base62_decode(base62_encode(n, 11)) == n


@pytest.mark.parametrize(
    "text",
    [
        "inv_1",
        "abc",
        "inv_17AIHiTltkYA5w1sby5k7LG4MuXiXMo0B!",
        "inv_17AIHiTltkYA5w1sby5k7LG4MuXiXMo0BBB",
        "inv_1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ],
)
def test_malformed_invocation_ids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidIdError):
        InvocationId.parse(text)


@pytest.mark.parametrize("text", ["sign_1", "sign_1!!!!", "prom_1abc", "sign_1AAAA"])
def test_malformed_awakeable_ids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidIdError):
        AwakeableId.parse(text)


def test_deterministic_uuids_depend_on_every_part() -> None:
    assert workflow_run_uuid("W", "k") == workflow_run_uuid("W", "k")
    assert workflow_run_uuid("W", "k") != workflow_run_uuid("W", "k2")
    base = idempotent_request_uuid("S", None, "h", "ik")
    assert base == idempotent_request_uuid("S", None, "h", "ik")
    assert base != idempotent_request_uuid("S", "key", "h", "ik")
    assert base != idempotent_request_uuid("S", None, "h2", "ik")


def test_deployment_ids_have_restates_shape() -> None:
    first, second = new_deployment_id(), new_deployment_id()
    assert first.startswith("dp_1") and len(first) == 26
    assert first != second
