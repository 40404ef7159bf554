"""Registering a deployment with a server's admin API; waiting until its ingress routes to it."""

from __future__ import annotations

import time

import httpx


def register_deployment(
    admin_url: str, uri: str, *, use_http_11: bool = False, timeout: float = 30.0
) -> list[str]:
    """POST /deployments; retried while the endpoint is still coming up. Returns service names.

    Without `use_http_11` the body is `{"uri": …}` alone (bidirectional HTTP/2, what any client
    registers by default); with it, `"use_http_11": true` (HTTP/1.1 request-response)."""
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {"uri": uri}
    if use_http_11:
        body["use_http_11"] = True
    with httpx.Client(base_url=admin_url, timeout=10.0) as client:
        while True:
            try:
                resp = client.post("/deployments", json=body)
                if resp.status_code in (200, 201):
                    return sorted(s["name"] for s in resp.json()["services"])
                problem = f"POST /deployments -> {resp.status_code} {resp.text!r}"
            except httpx.TransportError as exc:
                problem = repr(exc)
            if time.monotonic() >= deadline:
                raise AssertionError(f"registering {uri} failed: {problem}")
            time.sleep(0.2)


def wait_for_ingress_services(ingress_url: str, services: list[str], timeout: float = 30.0) -> None:
    """The ingress learns new schemas asynchronously; wait until it routes to all of them."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=ingress_url, timeout=5.0) as client:
        while True:
            resp = client.get("/restate/health")
            known = set(resp.json().get("services", [])) if resp.status_code == 200 else set()
            if known.issuperset(services):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"ingress still misses {sorted(set(services) - known)}")
            time.sleep(0.05)


def register(admin_url: str, ingress_url: str, uri: str, *, use_http_11: bool = False) -> list[str]:
    """Register `uri` and wait until the ingress routes to its services; their names."""
    services = register_deployment(admin_url, uri, use_http_11=use_http_11)
    wait_for_ingress_services(ingress_url, services)
    return services
