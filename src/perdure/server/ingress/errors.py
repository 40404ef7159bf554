"""The ingress's own refusals (bad path, header, delay, input…), answered in restate's
1.7.4+ error shape by `perdure.server.ingress.responses.ingress_error`."""

from __future__ import annotations

from perdure.server.errors import ServerError
from perdure.server.ingress.responses import ingress_error


class IngressError(ServerError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.response = ingress_error(status, message)
