"""Input validation from the manifest's `input` (reference surfaces §1.2).

restate builds a list of rules and accepts a request that matches any of them:
- `input.required` false: no body (perdure also accepts a content-type with an empty
  body here, which the official Python client sends for handlers without input);
- `input.contentType` set: a matching content-type (`;params` ignored, `*/*` and
  `type/*` wildcards), and with a `jsonSchema` a non-empty body as well.

Where the manifest promises JSON (a JSON schema with a JSON content type), perdure also
checks that the body is one well-formed JSON value (UTF-8, no BOM, no NaN/Infinity, no
overflowing numbers, bounded nesting) before storing anything: such a body could only
fail in the SDK's deserializer, after an invocation was created and retried.
"""

from __future__ import annotations

import json

from perdure.protocol.manifest import InputSpec, display_content_type
from perdure.server.ingress.errors import IngressError

MAX_JSON_DEPTH = 512


def content_type_matches(pattern: str, content_type: str) -> bool:
    actual = content_type.split(";", 1)[0].strip().lower()
    want = pattern.split(";", 1)[0].strip().lower()
    if want in ("*/*", ""):
        return True
    if want.endswith("/*"):
        return actual.startswith(want[:-1])
    return actual == want


def _refuse(message: str) -> IngressError:
    return IngressError(400, f"input validation error: {message}")


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} overflows a double")
    return value


def _max_depth(text: str) -> int:
    """Bracket nesting outside strings: checked before parsing, which recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def check_json(body: bytes) -> None:
    if body.startswith(b"\xef\xbb\xbf"):
        raise _refuse("the JSON body starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("the JSON body is not valid UTF-8") from None
    if _max_depth(text) > MAX_JSON_DEPTH:
        raise _refuse(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:
        raise _refuse(f"the body is not valid JSON: {exc}") from None


def _rust_debug(content_type: str | None) -> str:
    """`Option<String>` as Rust's `{:?}` prints it (restate quotes it in a message)."""
    if content_type is None:
        return "None"
    escaped = content_type.replace("\\", "\\\\").replace('"', '\\"')
    return f'Some("{escaped}")'


def _content_type_rule(pattern: str, content_type: str | None) -> str | None:
    if content_type is None:
        return "Empty content-type"
    if not content_type_matches(pattern, content_type):
        return f"Content-type '{content_type}' does not match '{display_content_type(pattern)}'"
    return None


def validate_input(spec: InputSpec, content_type: str | None, body: bytes) -> None:
    """restate's rules, tried in order; a request matching none gets the last one's error.

    1. `input.required` false: no body and no content-type (perdure: an empty body with a
       content-type is accepted too, see the module docstring);
    2. `input.contentType` set: a matching content-type, plus a non-empty body when a JSON
       schema is given.
    """
    if not body and not spec.required:
        return
    problem: str | None = "Bad configuration of the input validation rules"
    if not spec.required:
        problem = (
            "Expected body and content-type to be empty, but wasn't with content-type "
            f"'{_rust_debug(content_type)}'"
        )
    if spec.content_type is not None:
        problem = _content_type_rule(spec.content_type, content_type)
        if problem is None and spec.json_schema is not None and not body:
            problem = "Empty body not allowed"
    if problem is not None:
        raise _refuse(problem)
    if spec.json_schema is not None and _is_json_type(spec.content_type or ""):
        check_json(body)
