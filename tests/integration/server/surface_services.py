"""Services for the admin/ingress surface and bad-input tests (official restate-sdk 1.2.0).

Served as `python -m hypercorn surface_services:app` with this folder on PYTHONPATH; reuses
Counter and Proxy from sdk_services.py and adds a header echo, a raw-bytes echo, a
handler without input, a private service and a workflow.
"""

from __future__ import annotations

import restate
from restate import Context, WorkflowContext
from restate.serde import BytesSerde
from sdk_services import counter, proxy

echo = restate.Service("Echo")


@echo.handler()
async def headers(ctx: Context, _: str) -> dict[str, str]:
    return dict(ctx.request().headers)


@echo.handler(
    accept="*/*",
    content_type="application/octet-stream",
    input_serde=BytesSerde(),
    output_serde=BytesSerde(),
)
async def raw(ctx: Context, data: bytes) -> bytes:
    return data


@echo.handler()
async def nothing(ctx: Context) -> str:
    return "nothing in, this out"


@echo.handler()
async def text(ctx: Context, value: str) -> str:
    return value


hidden = restate.Service("Hidden", ingress_private=True)


@hidden.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


flow = restate.Workflow("Flow")


@flow.main()
async def run(ctx: WorkflowContext, name: str) -> str:
    return f"ran {name}"


app = restate.app([counter, proxy, echo, hidden, flow])
