"""Cron schedules declared in code: `perdure.app(services, schedules=[Schedule(...)])`.

A schedule travels to the server inside the endpoint manifest, as the metadata entry
``perdure.schedules`` (a JSON list) of the handler it invokes: restate-server keeps handler
metadata as opaque strings and ignores it, perdure's server creates, changes and drops
the schedules to match whenever the deployment is registered (and, for `perdure dev`, at
every start). The cron expression and time zone are checked by the server.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from perdure.sdk.handler import handler_spec_of

Overlap = Literal["skip", "buffer_one", "allow"]
CatchUp = Literal["skip", "all", "latest"]

METADATA_KEY = "perdure.schedules"
_NO_ARGUMENT: Any = object()


class Schedule:
    """Invoke `handler` at every tick of `cron` (5 fields, or 6 with seconds first).

    Args:
        cron: e.g. ``"0 9 * * MON"`` (09:00 every Monday) or ``"*/10 * * * * *"``.
        handler: A decorated handler function of a service this app serves.
        arg: The handler's input, serialised with its input serde (none by default).
        key: The object or workflow key (required for those); ``{tick}`` in it becomes
            the tick's time, e.g. one workflow run per tick with ``key="report-{tick}"``.
        timezone: IANA name the cron expression is read in (default UTC).
        overlap: While the previous tick's invocation still runs: ``"skip"`` this tick,
            ``"buffer_one"`` (run it once the previous ended) or ``"allow"`` (run it now).
        catch_up: Ticks missed while the server was down: ``"skip"`` them, run ``"all"``,
            or only the ``"latest"``.
        name: Unique name (default ``Service.handler``, plus ``.key`` when keyed).
    """

    def __init__(
        self,
        cron: str,
        handler: Any,
        arg: Any = _NO_ARGUMENT,
        *,
        key: str | None = None,
        timezone: str = "UTC",
        overlap: Overlap = "skip",
        catch_up: CatchUp = "skip",
        name: str | None = None,
    ) -> None:
        spec = handler_spec_of(handler)
        if overlap not in ("skip", "buffer_one", "allow"):
            raise ValueError(f"overlap must be skip, buffer_one or allow, not {overlap!r}")
        if catch_up not in ("skip", "all", "latest"):
            raise ValueError(f"catch_up must be skip, all or latest, not {catch_up!r}")
        self.cron = cron
        self.service = spec.service_name
        self.handler = spec.name
        self.key = key
        self.timezone = timezone
        self.overlap = overlap
        self.catch_up = catch_up
        default = f"{spec.service_name}.{spec.name}" + ("" if key is None else f".{key}")
        self.name = name or default
        self.argument = b"" if arg is _NO_ARGUMENT else bytes(spec.input_serde.serialize(arg))

    def to_json(self) -> dict[str, object]:
        """This schedule's item in the handler's ``perdure.schedules`` metadata."""
        item: dict[str, object] = {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "overlap": self.overlap,
            "catchUp": self.catch_up,
        }
        if self.key is not None:
            item["key"] = self.key
        if self.argument:
            item["argument"] = base64.b64encode(self.argument).decode()
        return item

    def __repr__(self) -> str:
        return f"Schedule({self.cron!r}, {self.service}/{self.handler}, name={self.name!r})"
