"""Harness for perdure's interop tests: the real restate-server, the services under test, clients.

Everything here runs on 127.0.0.1 inside the loopback-only network namespace that `scripts/test`
creates; see `netns.require_loopback_only`.
"""
