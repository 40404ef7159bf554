"""The admin API client shared by the admin commands, and its `--admin-url` option.

Like the `restate` CLI, the client first asks `GET /version` which admin API versions the
server speaks and prefixes every later call with the highest version both sides know
(`/v4/deployments`, …), so the same commands work against perdure and restate-server.
Every failure becomes an `AdminError`: one line on stderr and exit code 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import click
import httpx

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ADMIN_URL = "http://127.0.0.1:9070"
# Checked in this order: perdure's own variable wins over the one the restate CLI reads.
ADMIN_URL_ENV = ("PERDURE_ADMIN_URL", "RESTATE_ADMIN_URL")
ADMIN_TOKEN_ENV = "PERDURE_ADMIN_TOKEN"
# The admin API versions whose request and response shapes these commands use. V1 had
# other shapes; V2 only differs in defaults the commands always send explicitly (`force`).
CLIENT_VERSIONS = range(2, 5)
TIMEOUT_S = 30.0


class AdminError(click.ClickException):
    """A failed admin call; click prints `Error: <message>` and exits with code 1."""

    exit_code = 1


class AdminClient:
    """A synchronous client of one server's admin API (the CLI does one call at a time)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        # A server started with an admin token wants it on every call (PERDURE_ADMIN_TOKEN).
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(timeout=TIMEOUT_S, transport=transport, headers=headers)
        self._prefix: str | None = None

    def close(self) -> None:
        self._http.close()

    # ---- calls ------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        return self.call("GET", path).json()

    def post(self, path: str, body: object) -> httpx.Response:
        return self.call("POST", path, json=body)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of `POST /query` as JSON objects (a null column is absent from its row)."""
        response = self.call(
            "POST", "/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        rows = _json(response, self.url).get("rows")
        if not isinstance(rows, list):
            raise AdminError(f"{self.url}: /query answered without a 'rows' list")
        return rows

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request under the negotiated prefix; a non-2xx answer raises AdminError."""
        url = f"{self.url}{self.prefix()}{path}"
        response = self._send(method, url, **kwargs)
        if response.is_success:
            return response
        raise AdminError(error_message(response))

    # ---- version negotiation ----------------------------------------------------------

    def prefix(self) -> str:
        """`/v{N}` for the highest admin API version both sides know, or `` (unversioned)."""
        if self._prefix is None:
            self._prefix = self._negotiate()
        return self._prefix

    def _negotiate(self) -> str:
        response = self._send("GET", f"{self.url}/version")
        if response.status_code == 404:
            return ""  # a server older than versioning: it only serves the unversioned API
        if not response.is_success:
            raise AdminError(error_message(response))
        info = _json(response, self.url)
        low, high = info.get("min_admin_api_version"), info.get("max_admin_api_version")
        if not isinstance(low, int) or not isinstance(high, int):
            return ""
        common = [v for v in CLIENT_VERSIONS if low <= v <= high]
        if not common:
            raise AdminError(
                f"the admin API at {self.url} speaks versions V{low}..V{high}; this CLI "
                f"speaks V{CLIENT_VERSIONS[0]}..V{CLIENT_VERSIONS[-1]}"
            )
        return f"/v{max(common)}"

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise AdminError(
                f"the admin API at {self.url} did not answer within {TIMEOUT_S:g}s"
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise AdminError(f"cannot reach the admin API at {self.url}: {reason}") from None


def error_message(response: httpx.Response) -> str:
    """The server's own message (`{"message": …, "restate_code": …}`) with the HTTP status."""
    status = f"HTTP {response.status_code}"
    message: str | None = None
    code: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
        code = body.get("restate_code") if isinstance(body.get("restate_code"), str) else None
    elif response.text.strip():
        message = response.text.strip().splitlines()[0]
    if not message:
        message = response.reason_phrase or "no message"
    # restate puts its code in the message already; say it once.
    suffix = f" [{code}]" if code and code not in message else ""
    return f"{message}{suffix} ({status} from {response.request.method} {response.request.url})"


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AdminError(f"{url}: expected a JSON object from {response.request.url}")
    return body


def _client_from_option(ctx: click.Context, _param: click.Parameter, url: str) -> AdminClient:
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL")
    client = AdminClient(url, token=os.environ.get(ADMIN_TOKEN_ENV, "").strip() or None)
    ctx.call_on_close(client.close)
    return client


def admin_options(function: F) -> F:
    """Add `--admin-url`; the command receives a ready `AdminClient` as its `admin` argument."""
    return click.option(
        "--admin-url",
        "admin",
        default=DEFAULT_ADMIN_URL,
        show_default=True,
        envvar=list(ADMIN_URL_ENV),
        show_envvar=True,
        metavar="URL",
        callback=_client_from_option,
        help="The server's admin API; PERDURE_ADMIN_URL wins over RESTATE_ADMIN_URL. A "
        "server started with an admin token needs it in PERDURE_ADMIN_TOKEN.",
    )(function)


def path_segment(value: str) -> str:
    """`value` escaped for use as one path segment (`/deployments/{id}`)."""
    return quote(value, safe="")
