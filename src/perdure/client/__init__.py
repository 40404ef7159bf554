"""perdure's ingress client: call, send to and attach to handlers over HTTP.

    async with perdure.client.connect("http://127.0.0.1:8080") as client:
        greeting = await client.service(Greeter).greet("Ann")
        total = await client.object(Counter, "k").add(1)
        handle = await client.service(Greeter).greet.send("Ann", delay=timedelta(seconds=5))
        greeting = await handle.attach()
        await client.workflow(SignUp, "u1").submit("ann@example.com")
        output = await client.workflow(SignUp, "u1").output()   # output.ready, output.value

Proxies of class-based definitions (`perdure.sdk.typed`) are checked by a type checker;
restate-style definitions get proxies checked at runtime, and `client.call(greet, "Ann")`
(typed by the handler function itself). Failures raise `IngressError`.
"""

from perdure.client.client import Client, connect
from perdure.client.errors import IngressError, IngressUnreachable, NotReadyError
from perdure.client.handle import InvocationHandle, Output, SendHandle, SendStatus
from perdure.client.proxy import BoundHandler, ServiceProxy, WorkflowProxy

__all__ = [
    "BoundHandler",
    "Client",
    "IngressError",
    "IngressUnreachable",
    "InvocationHandle",
    "NotReadyError",
    "Output",
    "SendHandle",
    "SendStatus",
    "ServiceProxy",
    "WorkflowProxy",
    "connect",
]
