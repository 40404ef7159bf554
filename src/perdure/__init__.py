"""perdure: durable execution in pure Python, wire-compatible with Restate."""
