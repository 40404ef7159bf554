"""Admin routes of Kafka subscriptions, in restate-server's shape:

    GET    /subscriptions[?source=…&sink=…]  {"subscriptions": [Subscription]}
    POST   /subscriptions                    {"source": "kafka://CLUSTER/TOPIC",
                                              "sink": "service://SERVICE/HANDLER",
                                              "options": {…}} -> 201 Subscription
    GET    /subscriptions/{id}               Subscription
    DELETE /subscriptions/{id}               202

A Subscription is {"id": "sub_1…", "source", "sink", "options"}. The source's cluster must
be configured (`perdure.server.kafka.clusters`); options are librdkafka consumer
properties (e.g. "auto.offset.reset": "earliest"; "group.id" defaults to perdure-ID).
"""

from __future__ import annotations

from perdure.protocol.ids import new_subscription_id
from perdure.server.admin.errors import AdminError, admin_error, engine_status, json_object
from perdure.server.engine import (
    CreateSubscription,
    DeleteSubscription,
    EngineError,
    Submit,
    parse_source,
)
from perdure.server.http import Request, Response, json_response
from perdure.server.kafka.clusters import KafkaCluster
from perdure.store.api import Store, SubscriptionRow


async def route(
    request: Request,
    parts: list[str],
    store: Store,
    submit: Submit,
    clusters: tuple[KafkaCluster, ...],
) -> Response:
    method = request.method
    try:
        if not parts and method == "GET":
            rows = await store.read(lambda txn: txn.list_subscriptions())
            wanted = {k: v for k, v in request.query.items() if k in ("source", "sink")}
            rows = [r for r in rows if all(getattr(r, k) == v for k, v in wanted.items())]
            return json_response(200, {"subscriptions": [subscription_json(r) for r in rows]})
        if not parts and method == "POST":
            body = await json_object(request)
            source, sink, options = body.get("source"), body.get("sink"), body.get("options") or {}
            if not isinstance(source, str) or not isinstance(sink, str):
                raise AdminError(400, "a subscription needs a 'source' and a 'sink'")
            if not isinstance(options, dict):
                raise AdminError(400, "'options' must be an object of strings")
            cluster = parse_source(source).cluster
            if cluster not in {c.name for c in clusters}:
                raise AdminError(400, f"Kafka cluster {cluster!r} is not configured")
            command = CreateSubscription(
                new_subscription_id(), source, sink, {str(k): str(v) for k, v in options.items()}
            )
            return json_response(201, subscription_json(await submit(command)))
        if len(parts) == 1 and method == "GET":
            found = await store.read(lambda txn: txn.get_subscription(parts[0]))
            if found is None:
                return admin_error(404, f"subscription {parts[0]} not found")
            return json_response(200, subscription_json(found))
        if len(parts) == 1 and method == "DELETE":
            if not await submit(DeleteSubscription(parts[0])):
                return admin_error(404, f"subscription {parts[0]} not found")
            return Response(202)
    except EngineError as exc:
        return admin_error(engine_status(exc), exc.message)
    return admin_error(405, f"{method} {request.path} is not served")


def subscription_json(row: SubscriptionRow) -> dict[str, object]:
    return {"id": row.id, "source": row.source, "sink": row.sink, "options": row.options}
