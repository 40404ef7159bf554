"""What every suite uses to run real servers and endpoints: child processes started and stopped
by their own id (and killed with pytest: PR_SET_PDEATHSIG), free loopback ports, polling with a
deadline, launchers for `perdure server`/`perdure dev`, `perdure serve`/hypercorn endpoints and
the real restate-server, deployment registration, and failing tests' process logs.

Everything runs on 127.0.0.1; restate-server only inside the loopback-only network namespace
that `scripts/test` creates (see `netns.loopback_only_problem`).
"""
