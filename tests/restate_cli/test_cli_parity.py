"""Restate's own CLI (`restate` 1.7.12) against perdure: every command prints on perdure what
it prints on restate-server, after the same steps on both (issue 11, item 1).

What differs by nature is normalised away: ids (numbered in order of appearance), times and
durations, ports and URLs, a deployment's endpoint (an `http://` URI on restate-server, the
embedded `embedded://localhost/…` one on perdure), column widths. Nothing else: the detail
a journal line shows after the entry's type (`key stage`, `until <time>`) is parsed from
`sys_journal.entry_json`, which perdure writes in restate's own serde format.
"""

from __future__ import annotations

import re

import pytest

from tests.support.polling import eventually_sync

from .conftest import Side, Sides

pytestmark = pytest.mark.interop

_RULES: tuple[tuple[str, str], ...] = (
    (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?", "<time>"),
    (
        r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}",
        "<time>",
    ),
    (r"(?:\d+ (?:days?|hours?|minutes?|seconds?|ms)(?: and )?)+", "<duration> "),
    (r"\bnow (ago|left)", r"<duration> \1"),
    (r"\bP(?:\d+D)?(?:T(?:[\d.]+[HMS])+)?\b", "<duration>"),
    (r"Query took [\d.]+\w+", "Query took <duration>"),
    (r"embedded://localhost/\S+", "<url>"),
    (r"http://127\.0\.0\.1:\d+/?", "<url>"),
    (r"―+", "―"),
    (r"[ \t]+", " "),
)


def normalise(text: str) -> str:
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        kind = match.group(1)
        return ids.setdefault(
            match.group(0), f"<{kind}{sum(k.startswith(kind) for k in ids.values()) + 1}>"
        )

    text = re.sub(r"\b(inv|dp|sign|prom)_[0-9A-Za-z]{20,}", number, text)
    for pattern, replacement in _RULES:
        text = re.sub(pattern, replacement, text)
    # Blocks of lines (tables) sorted: restate lists a service's handlers in hash order.
    blocks = [
        sorted(line.strip() for line in block.splitlines() if line.strip())
        for block in re.split(r"\n\s*\n|―", text)
    ]
    return "\n".join("\n".join(block) for block in blocks if block)


def same_answer(sides: Sides, *args: str) -> str:
    """Run `restate ARGS` on both; fail unless they print the same (normalised)."""
    restate, perdure = (side.cli(*args) for side in sides.both())
    assert "Could not verify the admin API version" not in perdure, perdure
    command = " ".join(args)
    assert normalise(perdure) == normalise(restate), (
        f"`restate {command}` differs\n--- restate-server:\n{restate}\n--- perdure:\n{perdure}"
    )
    return perdure


def _waits_for_click(side: Side, invocation_id: str) -> bool:
    """The run's journal ends with its first sleep: it waits for the click (or a reminder)."""
    rows = side.query(
        f"SELECT entry_type FROM sys_journal WHERE id = '{invocation_id}' "
        "ORDER BY index DESC LIMIT 1"
    )
    return rows == [{"entry_type": "Command: Sleep"}]


def start_signup(side: Side, key: str) -> str:
    """Submit the sign-up of `key`; its invocation id once it waits for the click. (Polling
    the `stage` handler would add invocations, a different number on each side.)"""
    with side.ingress() as ingress:
        answer = ingress.post(f"/SignUp/{key}/run/send", json={"name": key, "email": f"{key}@x"})
    assert answer.status_code == 202, answer.text
    invocation_id = str(answer.json()["invocationId"])
    eventually_sync(
        lambda: _waits_for_click(side, invocation_id),
        what=f"{side.name}: the sign-up of {key} waits for the click",
    )
    return invocation_id


def signup_ended(side: Side, key: str) -> bool:
    with side.ingress() as ingress:
        return ingress.get(f"/restate/workflow/SignUp/{key}/output").status_code != 470


# restate's dialect: FIRST_VALUE with ORDER BY, `==`, a join, an Int64 count.
JOINED = (
    "SELECT COUNT(*) AS n, FIRST_VALUE(target ORDER BY created_at) AS t "
    "FROM sys_journal j JOIN sys_invocation i ON i.id == j.id"
)


def test_read_commands(sides: Sides) -> None:
    ann = {side.name: start_signup(side, "ann") for side in sides.both()}
    whoami = same_answer(sides, "whoami")
    assert "Admin Service" in whoami and "is healthy" in whoami
    differing = []
    for args in (
        ("services", "list"),
        ("services", "describe", "SignUp"),
        ("services", "status"),
        ("deployments", "list"),
        ("invocations", "list"),
        ("state", "get", "SignUp", "ann"),
        ("sql", "SELECT target, status, journal_size FROM sys_invocation ORDER BY target"),
        ("sql", JOINED),
    ):
        try:
            same_answer(sides, *args)
        except AssertionError as exc:
            differing.append(str(exc).split("\nassert ")[0])
    assert not differing, "\n\n".join(differing)
    # Commands that name an id: each side's own.
    restate_text = sides.restate.cli("invocations", "describe", ann["restate-server"])
    perdure_text = sides.perdure.cli("invocations", "describe", ann["perdure"])
    assert normalise(perdure_text) == normalise(restate_text), perdure_text
    assert "Command: GetPromise" in perdure_text and "SignUp/ann/run" in perdure_text
    # The entries' details, which the CLI reads from entry_json: a state key, a promise's.
    assert "stage" in perdure_text and "email-link" in perdure_text, perdure_text
    deployments = [
        re.findall(r"dp_[0-9A-Za-z]+", side.cli("deployments", "list"))[0] for side in sides.both()
    ]
    described = [
        side.cli("deployments", "describe", dp)
        for side, dp in zip(sides.both(), deployments, strict=True)
    ]
    assert normalise(described[1]) == normalise(described[0]), described[1]


def test_invocation_operations(sides: Sides) -> None:
    ids = {
        side.name: (start_signup(side, "bob"), start_signup(side, "cat")) for side in sides.both()
    }
    printed: dict[str, list[str]] = {side.name: [] for side in sides.both()}

    def each(*args: str, pick: int | None = None) -> None:
        for side in sides.both():
            extra = () if pick is None else (ids[side.name][pick],)
            printed[side.name].append(side.cli(*args, *extra))

    each("invocations", "cancel", pick=0)
    each("invocations", "cancel", "--kill", pick=1)
    for side in sides.both():
        for key in ("bob", "cat"):
            eventually_sync(
                lambda side=side, key=key: signup_ended(side, key), what=f"{side.name}: {key} ended"
            )
    each("invocations", "describe", pick=0)
    each("invocations", "purge", pick=0)
    each("invocations", "list", "--all")
    for restate_text, perdure_text in zip(
        printed["restate-server"], printed["perdure"], strict=True
    ):
        assert normalise(perdure_text) == normalise(restate_text), (restate_text, perdure_text)
    assert "completed with failure" in printed["perdure"][2]


def test_state_clear(sides: Sides) -> None:
    for side in sides.both():
        start_signup(side, "dan")
    same_answer(sides, "state", "get", "SignUp", "dan")
    # The workflow holds the key's lock until it ends; cancel it so the state can be cleared.
    for side in sides.both():
        with side.ingress() as ingress:
            ingress.post("/SignUp/dan/reject_email")
        eventually_sync(lambda side=side: signup_ended(side, "dan"), what=f"{side.name}: dan ended")
    same_answer(sides, "state", "clear", "SignUp/dan", "--force")
    after = same_answer(sides, "state", "get", "SignUp", "dan")
    assert "stage" not in after


def test_deployments_register_and_remove(sides: Sides) -> None:
    registered = same_answer(sides, "deployments", "register", sides.greeter_uri)
    assert "RemoteGreeter" in registered
    same_answer(sides, "deployments", "list")
    ids = []
    for side in sides.both():
        listed = side.cli("deployments", "list")
        line = next(line for line in listed.splitlines() if sides.greeter_uri.rstrip("/") in line)
        ids.append(re.findall(r"dp_[0-9A-Za-z]+", line)[0])
    removed = [
        side.cli("deployments", "remove", "--force", dp)
        for side, dp in zip(sides.both(), ids, strict=True)
    ]
    assert normalise(removed[1]) == normalise(removed[0]), removed
    same_answer(sides, "deployments", "list")
