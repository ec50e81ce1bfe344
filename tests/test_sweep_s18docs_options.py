"""Sweep s18 "a newcomer typing a word the command does not take": the error names the option.

The list filters already said `--status: 'x' is not one of …`; the write commands named the
service's field instead: `samples register --purpose fun` said "purpose class: …",
`loans request --transfer-type sale` "transfer type: …", `institutions add --kind` and
`incidents report --kind` "kind: …", `--origin`, `--record`, `--method`, `--role` and
`agreements add --purpose` their bare words, and `agreements add --max-extensions 21` "max
extensions: must be between 0 and 20"; `keys generate --name 'a b'` said "key name 'a b'". A
user who typed `--purpose` looked for a "purpose class" option. Each now names the option as
typed and what it accepts (exit 2, nothing written); `import` keeps naming its columns.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint

REGISTER = [
    "samples", "register", "CE5C0000YJYX099", "--mission", "CE-5", "--mass", "1 mg",
    "--origin", "scoop", "--material", "glass", "--form", "bead", "--purpose", "research",
    "--location", "N2 B",
]  # fmt: skip
AGREEMENT = [
    "agreements", "add", "AG-X", "--institution", "OU", "--term", "5 years", "--max-mass", "1 g",
    "--purpose", "research", "--max-loan-period", "12 months",
]  # fmt: skip
REQUEST = [
    "loans", "request", "L-X", "--agreement", "AG-2025-OU", "--pi", "anand@open.example",
    "--sample", "CE5C0000YJBP005", "--purpose", "research", "--transfer-type", "loan",
]  # fmt: skip
SHIP = ["loans", "ship", "L-2025-Brown", "--container", "box", "--seal", "S-1", "--method"]
RETURN = ["loans", "return", "L-2025-OU", "--container", "box", "--seal", "S-2", "--method"]
INSTITUTION = ["institutions", "add", "XX", "--name", "X", "--country", "Y", "--city", "Z"]
INCIDENT = ["incidents", "report", "--sample", "CE5C0000YJBP005", "--description", "x"]
PERSON = ["people", "add", "new@open.example", "--name", "New", "--institution", "OU"]
SET_ROLE = ["people", "set-role", "anand@open.example", "--reason", "x"]


def replaced(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option`'s value replaced by `value` (or appended when absent)."""
    if option not in args:
        return [*args, option, value]
    at = args.index(option) + 1
    return [*args[:at], value, *args[at + 1 :]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, written to by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


@pytest.mark.parametrize(
    ("args", "option", "accepted"),
    [
        (REGISTER, "--origin", "scoop, drill"),
        (REGISTER, "--purpose", "permanent, backup, research, public-welfare"),
        (REGISTER, "--record", "real, illustrative"),
        (AGREEMENT, "--purpose", "research, public-welfare"),
        (REQUEST, "--purpose", "research, public-welfare"),
        (REQUEST, "--transfer-type", "loan, gift, exhibition"),
        (SHIP, "--method", "courier, hand-carried, diplomatic-pouch, post"),
        (RETURN, "--method", "courier, hand-carried, diplomatic-pouch, post"),
        (INSTITUTION, "--kind", "lender, curator, borrower, recipient"),
        (INCIDENT, "--kind", "loss, theft, damage"),
        (PERSON, "--role", "curator, compliance-officer, researcher"),
        (SET_ROLE, "--role", "curator, compliance-officer, researcher"),
        ([*PERSON, "--print-sql"], "--role", "curator, compliance-officer, researcher"),
    ],
)
def test_a_word_a_write_does_not_take_is_named_by_its_option(
    demo: dict[str, str], args: list[str], option: str, accepted: str
) -> None:
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, replaced(args, option, "nope"), env=demo)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {option}: 'nope' is not one of {accepted}\n"
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


@pytest.mark.parametrize("count", ["-1", "21"])
def test_max_extensions_out_of_range_names_the_option_and_the_range(
    demo: dict[str, str], count: str
) -> None:
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, [*AGREEMENT, "--max-extensions", count], env=demo)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: --max-extensions: {count} is out of range; give 0 to 20 extensions\n"
    )
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


def test_max_extensions_within_range_is_recorded(demo: dict[str, str]) -> None:
    args = [*AGREEMENT[:2], "AG-X20", *AGREEMENT[3:], "--max-extensions", "20"]
    result = CliRunner().invoke(app, args, env=demo)
    assert result.exit_code == 0, result.output
    assert "Drafted agreement AG-X20" in result.stdout


@pytest.mark.parametrize("name", ["a b", "a+b"])
def test_a_key_name_keys_generate_refuses_is_named_by_its_option(tmp_path: Path, name: str) -> None:
    out = tmp_path / "cp.key"
    result = CliRunner().invoke(app, ["keys", "generate", "--out", str(out), "--name", name])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: --name: {name!r} is not a key name; give ")
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("anchor", ["12:xyz", "garbage"])
def test_a_bad_anchor_is_named_by_its_option(demo: dict[str, str], anchor: str) -> None:
    """`verify --anchor` said "anchor: …", the service's word, not the option typed."""
    result = CliRunner().invoke(app, ["verify", "--anchor", anchor], env=demo)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: --anchor: {anchor!r} is not SEQ:HASH")


def test_import_of_a_file_of_neither_kind_names_its_argument_as_help_shows_it(
    demo: dict[str, str], tmp_path: Path
) -> None:
    """`import notes.txt` said "file: …"; `verify-document` and `verify-bag` name their
    argument as `--help` spells it (FILE, BAG), and say what to do."""
    notes = tmp_path / "notes.txt"
    notes.write_text("CE5C0000YJYX099\n")
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, ["import", str(notes)], env=demo)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: FILE: 'notes.txt' is neither a sample catalogue (.csv) nor a history (.jsonl); "
        "name it with one of those endings\n"
    )
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before
