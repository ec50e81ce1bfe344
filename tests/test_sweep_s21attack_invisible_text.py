"""Sweep s21, an attacker (or a careless user): text that draws nothing.

Control and format characters were refused, but the characters Unicode counts as letters or
symbols that draw nothing were not: a Hangul filler (U+3164), the blank Braille pattern
(U+2800), a lone variation selector. `incidents report --description` of one of them was
recorded, and `incidents list` showed "damage:" with nothing after it: a required description
(or reason, or name) that reads empty, and a name that looks like another's. Now every text
field refuses them, in single commands and in `import` alike (one rule, `sampleloans.text`).
"""

from pathlib import Path

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.text import clean_name, clean_text
from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, institution_history, invoke

HIDDEN = {
    "hangul filler": "\u3164",
    "halfwidth hangul filler": "\uffa0",
    "hangul choseong filler": "\u115f",
    "blank braille pattern": "\u2800\u2800",
    "combining grapheme joiner": "\u034f",
    "lone variation selector": "\ufe0f",
    "lone combining accents": "\u0301\u0301",
}


@pytest.mark.parametrize("text", list(HIDDEN.values()), ids=list(HIDDEN))
def test_a_description_that_draws_nothing_is_refused(ledger: Path, text: str) -> None:
    """Before: recorded, exit 0 ('Incident 108 reported …'), listed as 'damage: '."""
    before = fingerprint(ledger)
    result = invoke(
        env_for(ledger),
        *("incidents", "report", "--sample", "CE5C0000YJYX052", "--kind", "damage"),
        *("--description", text),
    )
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("Error: --description: "), result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(ledger) == before


def test_an_invisible_letter_inside_a_name_is_named(ledger: Path) -> None:
    """A name padded with a Hangul filler would look like 'Evil U' in every table."""
    result = invoke(
        env_for(ledger),
        *("institutions", "add", "EVIL", "--name", "Evil\u3164U", "--country", "France"),
        *("--city", "Paris", "--kind", "borrower"),
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --name: contains the invisible character 'ㅤ' (U+3164 HANGUL FILLER); "
        "use visible text on one line"
    )


def test_import_refuses_the_same(ledger: Path, tmp_path: Path) -> None:
    """A history line is checked by the same rule, naming its key."""
    history = institution_history(tmp_path, "EVIL", "\u2800")
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "import", str(history))
    assert result.exit_code == 2
    assert "line 1: name: contains the invisible character '⠀' (U+2800" in result.stderr
    assert fingerprint(ledger) == before


@pytest.mark.parametrize(
    "text", ["Frédéric Moynier", "e\u0301cole", "❤\ufe0f lab", "嫦娥五号", "\u00a0Terada"]
)
def test_visible_text_with_marks_is_still_accepted(text: str) -> None:
    """An accent or a variation selector after the letter it modifies is ordinary text."""
    assert clean_text(text, "--note") == text.strip()
    assert clean_name(text.replace("❤\ufe0f ", ""), "--name")


def test_a_text_of_marks_alone_says_so() -> None:
    """Marks with nothing to modify are not 'empty' but draw nothing: said in those words."""
    with pytest.raises(InvalidInput, match="--note: has no visible character"):
        clean_text("\ufe0f\u0301", "--note")
