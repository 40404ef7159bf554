"""The corpus: every `# expect: CODE` in tests/unit/lint/corpus is reported at its line,
and nothing else is; the good_*.py files give no finding at all."""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest

from perdure.lint import RULES, lint_source

CORPUS = Path(__file__).parent / "corpus"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9,\s]+)")
CASES = sorted(CORPUS.glob("*.py"))


def expected(source: str) -> Counter[tuple[int, str]]:
    """(line, code) of each expectation comment; `# expect: PD101, PD101` counts twice."""
    found: Counter[tuple[int, str]] = Counter()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (match := EXPECT.search(token.string)):
            for code in match.group(1).split(","):
                found[token.start[0], code.strip()] += 1
    return found


def test_the_corpus_has_bad_and_good_cases() -> None:
    names = {case.name for case in CASES}
    assert any(n.startswith("bad_") for n in names)
    assert any(n.startswith("good_") for n in names)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_findings_are_exactly_the_expected_ones(case: Path) -> None:
    source = case.read_text()
    want = expected(source)
    if case.name.startswith("bad_"):
        assert want, f"{case.name} expects nothing: a bad case must mark its findings"
    else:
        assert not want, f"{case.name} is a good case and must expect nothing"
    findings, handlers = lint_source(source, str(case))
    assert handlers > 0, f"no handler found in {case.name}: the checks never ran"
    got = Counter((f.line, f.code) for f in findings)
    missing = want - got
    unexpected = got - want
    lines = source.splitlines()
    assert not missing and not unexpected, "\n".join(
        [f"missing   {c} at {case.name}:{n}: {lines[n - 1].strip()}" for n, c in sorted(missing)]
        + [f"unexpected {f.text()}" for f in findings if (f.line, f.code) in unexpected]
    )


def test_every_code_has_a_bad_case() -> None:
    codes = {code for case in CASES for _, code in expected(case.read_text())}
    assert codes == set(RULES)


def test_every_finding_says_how_to_fix_it() -> None:
    for case in CASES:
        findings, _ = lint_source(case.read_text(), case.name)
        for finding in findings:
            assert finding.fix == RULES[finding.code].fix or "ctx.run" in finding.fix
            assert " — fix: " in finding.text()
