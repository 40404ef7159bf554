"""Harness for perdure's interop tests: the services under test and the stacks that serve them
(restate-server or `perdure dev`), their clients and side-effect store.

The generic parts (processes, ports, polling, launchers, registration, the loopback-only guard)
are tests/support's. Everything runs on 127.0.0.1 inside the loopback-only network namespace that
`scripts/test` creates; see `tests.support.netns.loopback_only_problem`.
"""
