"""Restate's SQL over perdure's stores: `POST /query` (see engine.py)."""

from perdure.server.query.engine import QueryEngine
from perdure.server.query.render import ARROW_STREAM, arrow_stream, json_rows

__all__ = ["ARROW_STREAM", "QueryEngine", "arrow_stream", "json_rows"]
