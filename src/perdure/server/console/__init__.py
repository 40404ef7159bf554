"""perdure's web console: static assets served by the admin app under `/ui`, plus one
thin route (`/ui/api/invoke/…`) that forwards handler calls to the ingress."""

from perdure.server.console.app import Console

__all__ = ["Console"]
