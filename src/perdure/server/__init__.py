"""The perdure server: ingress, admin API, invocation engine, invoker, timers."""
