"""The ingress HTTP API."""
