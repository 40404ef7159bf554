"""The server's errors: one root, so a caller can tell "perdure refused or failed" from a bug.

    ServerError                  the server refused something or could not do it
    ├── ConfigError              a configuration value is invalid (also a ValueError)
    ├── DurationError            a duration text cannot be parsed (also a ValueError)
    ├── BodyTooLarge             a request body exceeds the configured limit
    ├── EngineError              the engine refused a command (perdure.server.engine.errors)
    ├── IngressError             the ingress refuses a request (answered in restate's shape)
    ├── AdminError               the admin API refuses a request
    │   └── RegistrationError    discovering or registering a deployment failed
    ├── EmbeddedAppError         an app cannot be hosted in-process
    └── TransportError           an attempt's transport failed; the attempt is retried
        └── H2Error              the HTTP/2 connection or stream failed

The store's errors have their own root (`perdure.store.api.StoreError`).
"""

from __future__ import annotations


class ServerError(Exception):
    """Something the server refused or could not do; the message says what and why."""


class TransportError(ServerError):
    """The transport of an attempt failed (connection, stream, handler task); retried."""

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms
