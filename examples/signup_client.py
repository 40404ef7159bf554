"""Drive the sign-up workflow (signup.py) through perdure's ingress client.

    perdure dev examples/signup.py                        # in one terminal
    python examples/signup_client.py ann ann@example.com  # in another

It submits the sign-up, polls its stage as a web page would, reads the confirmation code
from the (fake) e-mail, clicks the link, and waits for the result. ``--reject`` clicks
"this was not me" instead. Running it again for the same user attaches to the first run.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time

import fake_world
from signup import SignUp, User

import perdure.client

CODE = re.compile(r"confirmation code is ([0-9a-f-]{36})")


async def sign_up(ingress: str, name: str, email: str, reject: bool, patience: float) -> int:
    deadline = time.monotonic() + patience
    async with perdure.client.connect(ingress, timeout=patience) as client:
        signup = client.workflow(SignUp, name)  # typed: mypy checks the calls below
        handle = await signup.submit(User(name=name, email=email))
        print(f"submitted {handle.invocation_id} ({handle.status})")

        if not handle.previously_accepted:
            # A web page would show this stage; poll until the e-mail went out.
            stage = None
            while stage != "waiting-for-click":
                if time.monotonic() > deadline:
                    print(f"gave up waiting: the stage is still {stage!r}", file=sys.stderr)
                    return 2
                await asyncio.sleep(0.1)
                stage = await signup.stage()
            print(f"stage: {stage}")
            if reject:
                await signup.reject_email()
                print("clicked: this was not me")
            else:
                await signup.approve_email(read_code(handle.invocation_id))
                print("clicked the link in the e-mail")

        try:
            user_id = await signup.attach()
        except perdure.client.IngressError as error:
            print(f"sign-up failed: {error.message} (stage {await signup.stage()})")
            return 1
        print(f"signed up: {user_id} (stage {await signup.stage()})")
        return 0


def read_code(invocation_id: str) -> str:
    """The confirmation code in the e-mail this sign-up sent (the fake outbox is a file)."""
    for mail in fake_world.entries("outbox"):
        # Idempotency keys start with the invocation id: this run's e-mails only.
        if mail["key"].startswith(f"{invocation_id}/") and (found := CODE.search(mail["body"])):
            return found.group(1)
    raise LookupError(f"no confirmation e-mail from {invocation_id} in {fake_world.world_dir()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the user name: the workflow key")
    parser.add_argument("email")
    parser.add_argument("--ingress", default="http://127.0.0.1:8080")
    parser.add_argument("--reject", action="store_true", help='click "this was not me"')
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait at most")
    args = parser.parse_args()
    return asyncio.run(sign_up(args.ingress, args.name, args.email, args.reject, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
