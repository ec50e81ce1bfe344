"""Every page layout a release can print is described in `docs/migrations.md` rule 7.

The list of what each report and statement layout changed moved there from the README's
`verify-document` row (the README points to it). Layout 18 reached the README but not the
rule; this keeps the rule in step with `REPORT_LAYOUT` and `STATEMENT_LAYOUT`.
"""

import re
from pathlib import Path

from sampleloans.readmodels.report import REPORT_LAYOUT
from sampleloans.readmodels.statement import STATEMENT_LAYOUT

ROOT = Path(__file__).resolve().parents[1]


def _rule_seven() -> tuple[str, str]:
    """Rule 7's report part and its statement part (split where the statement's list starts)."""
    text = (ROOT / "docs" / "migrations.md").read_text(encoding="utf-8")
    start = text.index("7. **Documents outlive the release that printed them.**")
    ends = [text.find(mark, start) for mark in ("\n8. ", "\n## ")]
    end = min([found for found in ends if found != -1], default=len(text))
    rule = " ".join(text[start:end].split())
    report, _, statement = rule.partition("A statement carries its own")
    return report, statement


def _numbers_listed(part: str) -> set[int]:
    """The layout numbers a part describes: "N: what changed", after "(" or "; "."""
    return {int(found) for found in re.findall(r"(?:\(|; )(\d+): ", part)}


def test_each_report_layout_is_described_in_rule_seven() -> None:
    """Layouts 1 to REPORT_LAYOUT each have their entry, and none beyond."""
    listed = _numbers_listed(_rule_seven()[0])
    assert set(range(1, REPORT_LAYOUT + 1)) <= listed, sorted(listed)
    assert max(listed) == REPORT_LAYOUT


def test_each_statement_layout_is_described_in_rule_seven() -> None:
    """Statement layouts 2 to STATEMENT_LAYOUT each have their entry, and none beyond."""
    listed = _numbers_listed(_rule_seven()[1])
    assert set(range(2, STATEMENT_LAYOUT + 1)) <= listed, sorted(listed)
    assert max(listed) == STATEMENT_LAYOUT


def test_the_readme_points_to_the_rule_with_the_current_numbers() -> None:
    """The README's `verify-document` row names the newest layouts and where they are told."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"report layouts 1–{REPORT_LAYOUT}" in readme
    assert f"statement layouts 1–{STATEMENT_LAYOUT}" in readme
    assert "`docs/migrations.md` rule 7 says what each one changed" in readme
