"""The outside world of the examples, faked: an e-mail outbox, a payment provider, a
kitchen, a driver dispatch, a cloud API and an image-processing API.

Durable execution is about side effects, so the examples need some, and you (and the
tests) need to see them. Every fake request appends one JSON line to a file named after
the system, ``<dir>/<system>.jsonl``, where ``<dir>`` is ``$PERDURE_EXAMPLES_DIR``
(default: ``perdure-examples`` in the temp folder). Look at them while an example runs::

    tail -f /tmp/perdure-examples/outbox.jsonl

Real providers deduplicate retried requests by an idempotency key. Ours only record it:
each request carries `step_key(ctx, step)`, unique per invocation and durable step, so a
step that ran twice would show as two lines with the same key. With perdure it never
does: a completed `ctx.run` is replayed from the journal, not run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from perdure import Context

DIR_ENV = "PERDURE_EXAMPLES_DIR"


def world_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / "perdure-examples")


def step_key(ctx: Context, step: str) -> str:
    """The idempotency key of one durable step of this invocation."""
    return f"{ctx.request().id}/{step}"


def record(system: str, key: str, **fields: Any) -> dict[str, Any]:
    """Append one request to `system`'s file: what the outside world saw."""
    entry = {"key": key, **fields}
    path = world_dir() / f"{system}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    # One write on an O_APPEND descriptor: concurrent handlers never interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def entries(system: str, **match: Any) -> list[dict[str, Any]]:
    """The requests `system` received, oldest first; only those whose fields equal `match`."""
    try:
        lines = (world_dir() / f"{system}.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    found = [json.loads(line) for line in lines if line.strip()]
    return [e for e in found if all(e.get(k) == v for k, v in match.items())]


# -- e-mail -------------------------------------------------------------------------------


def send_email(key: str, to: str, subject: str, body: str) -> None:
    record("outbox", key, to=to, subject=subject, body=body)


# -- accounts -----------------------------------------------------------------------------


def create_user(key: str, user_id: str, name: str, email: str) -> str:
    record("accounts", key, user_id=user_id, name=name, email=email)
    return user_id


# -- payments -----------------------------------------------------------------------------


class PaymentDeclined(Exception):
    """The card was declined: retrying will not help."""


DECLINED_CARD = "4000-0000-0000-0002"  # like a payment provider's test card


def charge(key: str, card: str, amount_cents: int) -> str:
    if card == DECLINED_CARD:
        record("payments", key, op="declined", card=card, amount_cents=amount_cents)
        raise PaymentDeclined(f"card {card} was declined")
    record("payments", key, op="charge", card=card, amount_cents=amount_cents)
    return "pay_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def refund(key: str, charge_key: str) -> bool:
    """Refund the charge made with idempotency key `charge_key`; False if there was none
    (a compensation must be safe to run whether or not its action happened)."""
    charged = entries("payments", key=charge_key, op="charge")
    if not charged:
        return False
    amount = charged[0]["amount_cents"]
    record("payments", key, op="refund", charge_key=charge_key, amount_cents=amount)
    return True


# -- kitchen and drivers ------------------------------------------------------------------


class OutOfStock(Exception):
    """An item cannot be made today."""


SOLD_OUT = frozenset({"truffle pizza"})


def prepare(key: str, order_id: str, items: list[str]) -> None:
    missing = sorted(set(items) & SOLD_OUT)
    if missing:
        raise OutOfStock(f"sold out: {', '.join(missing)}")
    record("kitchen", key, op="prepare", order_id=order_id, items=items)


def cancel_preparation(key: str, order_id: str) -> None:
    record("kitchen", key, op="cancel", order_id=order_id)


def offer_to_drivers(key: str, order_id: str, callback_id: str) -> None:
    """Show the order to drivers; the one who accepts completes `callback_id` (an awakeable
    id) through the ingress, e.g. ``POST /restate/awakeables/{id}/resolve``."""
    record("dispatch", key, order_id=order_id, callback_id=callback_id)


# -- cloud --------------------------------------------------------------------------------


class NotUpYet(Exception):
    """The resource is still booting: ask again later."""


def create_resource(key: str, kind: str, name: str, checks_until_up: int) -> str:
    resource_id = f"{kind}-{name}"
    record("cloud", key, op="create", resource=resource_id, checks_until_up=checks_until_up)
    return resource_id


def require_up(key: str, resource_id: str) -> None:
    """Raise NotUpYet until the resource answered `checks_until_up` status checks."""
    created = entries("cloud", op="create", resource=resource_id)
    needed = created[-1]["checks_until_up"] if created else 0
    record("cloud", key, op="check", resource=resource_id)
    if len(entries("cloud", op="check", resource=resource_id)) <= needed:
        raise NotUpYet(f"{resource_id} is still booting")


def delete_resource(key: str, resource_id: str) -> None:
    record("cloud", key, op="delete", resource=resource_id)


# -- images -------------------------------------------------------------------------------


def image_op(key: str, op: str, args: dict[str, int]) -> None:
    """What a hosted image API would bill for: one line per operation run."""
    record("images", key, op=op, args=args)
