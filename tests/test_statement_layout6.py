"""Statement layout 6: a sample only requested is not listed under "What you hold".

`tests/golden/statement-layout5-brown.pdf` (layout 5, printed by main at 14a194c; see
tests/golden/README.md) listed Brown's requested sample as a row "requested", 0 µg issued, 0 µg
held, under "What you hold", although nothing had been lent yet.
"""

from pathlib import Path

from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, GOLDEN
from tests.test_s17_layout_goldens import cli, keywords, statement_ledger, words

__all__ = ["statement_ledger"]  # the fixture, used by name below

OLD = GOLDEN / "statement-layout5-brown.pdf"
SAMPLE = "CE5C0100YJFM00201-03"


def test_the_layout_5_statement_still_verifies_byte_for_byte(
    statement_ledger: dict[str, str],
) -> None:
    assert keywords(OLD)["v"] == 5 < METADATA_VERSION
    output = cli(statement_ledger, "--as", COMPLIANCE, "verify-document", str(OLD))
    assert "byte-identical to a fresh rendering" in output


def test_layout_6_lists_no_sample_that_was_only_requested(
    statement_ledger: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "st"
    out.mkdir()
    make = ["report", "statement", "--pi", "pi@brown.example", "--out", str(out)]
    cli(statement_ledger, "--as", COMPLIANCE, *make, "--generated-at", "2026-05-01T00:00:00Z")
    (fresh,) = out.glob("*.pdf")
    assert keywords(fresh)["v"] == METADATA_VERSION >= 6  # later layouts kept these words
    assert SAMPLE in words(OLD) and "What you hold (sample and mass)" in words(OLD)
    now = words(fresh)
    assert "What you hold No sample has been issued to you yet" in now
    # the sample is still named where the PI asked for it: the request's own event line
    assert now.count(SAMPLE) == words(OLD).count(SAMPLE) - 1
    for same in ("head", "checkpoint"):
        assert keywords(fresh)[same] == keywords(OLD)[same], same
    # layout 6 changed the page, not what the digest covers; layout 7 describes each sample as
    # the reports do, with its origin (WORDED_VERSION): its digest covers the requested sample's
    assert keywords(fresh)["digest"] != keywords(OLD)["digest"]
    output = cli(statement_ledger, "--as", COMPLIANCE, "verify-document", str(fresh))
    assert "byte-identical to a fresh rendering" in output
