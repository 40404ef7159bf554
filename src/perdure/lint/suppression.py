"""Line suppressions: ``# perdure: allow[PD105]`` (or ``allow[PD101, PD105]``) at the end
of the line a finding reports silences those codes on that line, and only there.

Comments are read with `tokenize`, so the marker inside a string literal does nothing.
"""

from __future__ import annotations

import io
import re
import tokenize

_MARKER = re.compile(r"#\s*perdure:\s*allow\[([^\]]*)\]")


def allowed_codes(source: str) -> dict[int, frozenset[str]]:
    """Line number -> the codes a suppression comment on that line allows."""
    allowed: dict[int, frozenset[str]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            for match in _MARKER.finditer(token.string):
                codes = {c.strip().upper() for c in match.group(1).split(",") if c.strip()}
                line = token.start[0]
                allowed[line] = allowed.get(line, frozenset()) | codes
    except (tokenize.TokenError, SyntaxError):
        pass  # the source parsed (ast is the judge); a tokenizer quirk only loses markers
    return allowed
