"""Flow control end to end in one process (real store, system clock): concurrency and rate
limits declared in code, priority within a limit, limits per key group, the admin API in
perdure's and Restate's forms, and what `/query` shows."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import perdure
from tests.features.harness import Server, embedded_server
from tests.support.polling import eventually


class World:
    def __init__(self) -> None:
        self.active: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.started: list[tuple[str, float]] = []
        self.order: list[str] = []
        self.release = asyncio.Event()

    def enter(self, group: str) -> None:
        self.active[group] = self.active.get(group, 0) + 1
        self.most[group] = max(self.most.get(group, 0), self.active[group])

    def leave(self, group: str) -> None:
        self.active[group] -= 1

    def app(self) -> perdure.sdk.endpoint.Endpoint:
        limited = perdure.Service("Limited", concurrency=2)
        paced = perdure.Service("Paced", rate=perdure.Rate(20, per=timedelta(seconds=1)))
        ordered = perdure.Service("Ordered", concurrency=1)
        tenants = perdure.VirtualObject("Tenant")
        scoped = perdure.Service("Scoped")

        @scoped.handler()
        async def hit(ctx: perdure.Context) -> str:
            group = "scoped:" + ctx.request().headers["x-perdure-limit-key"]
            self.enter(group)
            await asyncio.sleep(0.3)  # long enough that unlimited calls overlap
            self.leave(group)
            return group

        @limited.handler()
        async def work(ctx: perdure.Context, n: int) -> int:
            self.enter("limited")
            await asyncio.sleep(0.03)
            self.leave("limited")
            return n

        @paced.handler()
        async def tick(ctx: perdure.Context, n: int) -> int:
            self.started.append((f"{n}", time.monotonic()))
            return n

        @ordered.handler()
        async def job(ctx: perdure.Context, label: str) -> str:
            if label == "blocker":
                await self.release.wait()
            self.order.append(label)
            return label

        @tenants.handler(concurrency=1, limit_by="key_before::")
        async def run(ctx: perdure.ObjectContext) -> str:
            tenant = ctx.key().split(":")[0]
            self.enter(tenant)
            await asyncio.sleep(0.05)
            self.leave(tenant)
            return ctx.key()

        return perdure.app([limited, paced, ordered, tenants, scoped])


async def query(server: Server, sql: str) -> list[dict[str, object]]:
    response = await server.admin.post("/query", json={"query": sql})
    assert response.status_code == 200, response.text
    return response.json()["rows"]  # type: ignore[no-any-return]


async def test_a_concurrency_limit_of_two_never_runs_more_than_two(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        calls = [server.ingress.post("/Limited/work", json=n) for n in range(50)]
        running = asyncio.gather(*calls)

        async def busy() -> list[dict[str, object]] | None:
            rows = await query(
                server, "SELECT running, queued FROM sys_limit WHERE rule = 'code:Limited'"
            )
            return rows if rows and rows[0].get("queued", 0) > 0 else None  # type: ignore[operator]

        seen = await eventually(busy, what="queued invocations behind the limit", within=20)
        assert seen[0]["running"] == 2
        statuses = await query(
            server,
            "SELECT DISTINCT status FROM sys_invocation WHERE target_service_name = 'Limited'",
        )
        assert {"status": "limited"} in statuses
        responses = await running
    assert sorted(r.json() for r in responses) == list(range(50))
    assert world.most["limited"] == 2


async def test_a_rate_limit_spaces_the_starts(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        began = time.monotonic()
        responses = await asyncio.gather(
            *(server.ingress.post("/Paced/tick", json=n) for n in range(100))
        )
        took = time.monotonic() - began
    assert all(r.status_code == 200 for r in responses)
    assert took >= 4.5, took  # 20 per second, one at a time: 99 gaps of 50 ms
    starts = sorted(at for _, at in world.started)
    assert len(starts) == 100
    assert starts[-1] - starts[0] >= 4.5


async def test_priority_orders_the_queue_of_a_limit(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        blocker = server.ingress.post("/Ordered/job/send", json="blocker")
        assert (await blocker).status_code == 202
        await eventually(
            lambda: query(
                server,
                "SELECT 1 FROM sys_invocation WHERE target_service_name = 'Ordered' "
                "AND status = 'running'",
            ),
            what="the blocker to run",
        )
        for label, priority in [("a", 1), ("b", 5), ("c", 3), ("d", 5), ("e", 0), ("f", 3)]:
            sent = await server.ingress.post(
                "/Ordered/job/send", json=label, headers={"x-perdure-priority": str(priority)}
            )
            assert sent.status_code == 202
        world.release.set()
        await eventually(lambda: len(world.order) == 7, what="every job to run")
    assert world.order == ["blocker", "b", "d", "c", "f", "a", "e"]


async def test_limits_per_key_group_of_a_virtual_object(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        keys = [f"{tenant}:{n}" for tenant in "ab" for n in range(4)]
        responses = await asyncio.gather(*(server.ingress.post(f"/Tenant/{k}/run") for k in keys))
    assert sorted(r.json() for r in responses) == sorted(keys)
    # One at a time per tenant (the part of the key before ':'), tenants side by side.
    assert world.most == {"a": 1, "b": 1}


async def test_limits_through_the_admin_api(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        admin = server.admin
        listed = {r["id"]: r for r in (await admin.get("/limits")).json()["limits"]}
        assert listed["code:Limited"]["concurrency"] == 2
        assert listed["code:Paced"]["rate"] == {"count": 20, "period_ms": 1000, "burst": 1}
        assert listed["code:Tenant/run"]["limit_by"] == "key_before::"

        put = await admin.put(
            "/limits/tenants", json={"service": "Tenant", "concurrency": 5, "limit_by": "key"}
        )
        assert put.status_code == 200 and put.json()["version"] == 1
        again = await admin.put("/limits/tenants", json={"service": "Tenant", "concurrency": 6})
        assert again.json()["version"] == 2
        missing = await admin.put("/limits/x", json={"service": "Nope", "concurrency": 1})
        assert missing.status_code == 404
        assert (await admin.put("/limits/x", json={"concurrency": 1})).status_code == 400
        assert (await admin.delete("/limits/tenants")).status_code == 204
        assert (await admin.delete("/limits/tenants")).status_code == 404

        # Restate 1.7's form: rules by pattern, with preconditions and bulk delete.
        rules = [{"pattern": "*", "limits": {"concurrency": 100}, "description": "cluster"}]
        upserted = await admin.put("/limits/rules", json=rules)
        assert upserted.status_code == 200, upserted.text
        assert upserted.json()[0]["pattern"] == "*" and upserted.json()[0]["version"] == 1
        stale = [{"pattern": "*", "limits": {}, "precondition": {"type": "does_not_exist"}}]
        assert (await admin.put("/limits/rules", json=stale)).status_code == 409
        rows = await query(server, "SELECT pattern, concurrency, version FROM sys_rules")
        assert rows == [{"pattern": "*", "concurrency": 100, "version": 1}]
        gone = await admin.post("/limits/rules/bulk-delete", json=[{"pattern": "*"}])
        assert gone.json() == ["*"]
        assert await query(server, "SELECT pattern FROM sys_rules") == []


async def test_a_restate_pattern_rule_limits_by_scope_and_limit_key(tmp_path: Path) -> None:
    world = World()
    async with embedded_server(world.app(), tmp_path / "data") as server:
        rule = [{"pattern": "s/*", "limits": {"concurrency": 1}}]
        assert (await server.admin.put("/limits/rules", json=rule)).status_code == 200
        calls = [
            server.ingress.post(
                "/Scoped/hit", headers={"x-perdure-scope": scope, "x-perdure-limit-key": key}
            )
            for scope, key in [
                ("s", "a"),
                ("s", "a"),
                ("s", "a"),
                ("s", "b"),
                ("s", "b"),
                ("t", "c"),
                ("t", "c"),
            ]
        ]
        responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses)
    # One at a time per limit key in scope "s"; scope "t" is not limited by the rule.
    assert world.most["scoped:a"] == 1 and world.most["scoped:b"] == 1
    assert world.most["scoped:c"] == 2
