"""Sweep "a curator loads a large collection": what `import` says about a bad file.

A curator importing a 10,000-row catalogue with one bad row must learn, in one line, which file,
which line and which column to fix, and find nothing written. Before: the line named no file
(`line 10000: mass: …`), a column by a label that is not the column's name (`purpose class:`
for `purpose_class`), a file with one byte that is not UTF-8 anywhere was "not UTF-8 text"
with no line, a catalogue without its header line "named '' more than once", and a header
repeated inside the file (two exports joined) a mass that "is not a mass".
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

HEADER = (
    "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
    "purpose_class,mass,mass_source,storage_location,condition,record"
)
GOOD = "{code},CE-5,scoop,,,regolith,powder,research,1 mg,published,NAOC B,pristine,real"


def row(number: int, **replaced: str) -> str:
    """A good catalogue row for a new sample, with some columns replaced."""
    good = GOOD.format(code=f"CE5C7{number:06d}").split(",")
    values = dict(zip(HEADER.split(","), good, strict=True))
    return ",".join({**values, **replaced}.values())


def refused(runner: CliRunner, db_path: Path, file: Path, exit_code: int = 2) -> list[str]:
    """Importing `file` is refused with `exit_code`, writes nothing; the stderr lines."""
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(file)])
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert fingerprint(db_path) == before
    return result.stderr.splitlines()


def test_a_bad_row_near_the_end_of_10000_is_one_line_naming_file_line_and_column(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    rows = [row(n) for n in range(10_000)]
    rows[9_998] = row(9_998, mass="1 kg x")  # data row 9,999: line 10,000 of the file
    file = tmp_path / "collection.csv"
    file.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines[0].startswith("collection.csv line 10000: mass: '1 kg x'"), lines
    assert lines[1].startswith("Error: collection.csv: 1 of 10000 records refused;"), lines
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purpose_class", "fun"),
        ("storage_location", "shelf\x07"),
        ("material_type", "x" * 81),
        ("physical_form", "\u202epowder"),
        ("condition", "y" * 201),
        ("record", "maybe"),
        ("origin", "nowhere"),
    ],
)
def test_a_refused_value_names_its_column_as_the_header_spells_it(
    runner: CliRunner, db_path: Path, tmp_path: Path, column: str, value: str
) -> None:
    file = tmp_path / "one.csv"
    file.write_text(f"{HEADER}\n{row(1, **{column: value})}\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines[0].startswith(f"one.csv line 2: {column}: "), lines


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b"M\xfcnchen", "line 4"),  # Latin-1 among UTF-8 rows: mixed encodings
        (b"shelf \xff", "line 4"),
        (b"\xed\xa0\x80", "line 4"),  # an encoded surrogate is not UTF-8 either
    ],
)
def test_bytes_that_are_not_utf8_are_named_by_line(
    runner: CliRunner, db_path: Path, tmp_path: Path, raw: bytes, where: str
) -> None:
    good = [row(n).encode() for n in range(3)]
    bad = row(3, storage_location="@").encode().replace(b"@", raw)
    file = tmp_path / "mixed.csv"
    file.write_bytes(b"\n".join([HEADER.encode(), *good[:2], bad, good[2]]) + b"\n")
    lines = refused(runner, db_path, file)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: mixed.csv {where}: "), lines
    assert "not UTF-8" in lines[0] and "save the file as UTF-8" in lines[0], lines


def test_a_history_line_that_is_not_utf8_is_named_by_line(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    file = tmp_path / "history.jsonl"
    file.write_bytes(b'\n\n{"kind": "\xe9"}\n')
    lines = refused(runner, db_path, file)
    assert lines == [lines[0]] and lines[0].startswith("Error: history.jsonl line 3: "), lines


def test_a_catalogue_without_its_header_line_says_so(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    file = tmp_path / "rows.csv"
    file.write_text(f"{row(1)}\n{row(2)}\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert len(lines) == 1, lines
    assert "more than once" not in lines[0]
    assert lines[0].startswith("Error: rows.csv: the first line is not the header"), lines
    assert "code, mission, origin" in lines[0]


def test_a_header_repeated_inside_the_file_is_named_as_such(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    file = tmp_path / "joined.csv"
    file.write_text(f"{HEADER}\r\n{row(1)}\r\n{HEADER}\r\n{row(2)}\r\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines[0] == ("joined.csv line 3: repeats the header line (files joined?); remove it"), (
        lines
    )
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("typed", "meant"), [("condtion", "condition"), ("recrd", "record"), ("Depth_top_cm", "")]
)
def test_a_column_the_catalogue_does_not_know_is_refused_not_dropped(
    runner: CliRunner, db_path: Path, tmp_path: Path, typed: str, meant: str
) -> None:
    """Before, a misspelt `condtion` column was skipped: the sample went in as 'pristine'."""
    file = tmp_path / "typo.csv"
    file.write_text(f"{HEADER.replace(',record', ',' + typed)}\n{row(1)}\n", encoding="utf-8")
    if typed.lower() == "depth_top_cm":
        file.write_text(f"{HEADER},{typed}\n{row(1)},5\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: typo.csv: the header names {typed!r}, "), lines
    assert "mass_source" in lines[0]  # the columns it knows are listed
    if meant:
        assert f"did you mean {meant!r}?" in lines[0], lines


def test_the_documentation_columns_of_data_samples_csv_are_accepted(
    runner: CliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "documented.csv"
    file.write_text(
        f"{HEADER},firmness,illustrative_fields,source\n{row(1)},firm,all,invented\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["--as", CURATOR, "import", str(file)])
    assert result.exit_code == 0, result.stderr


def test_an_events_export_given_to_import_points_to_restore(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """Before: one 'unknown field' line for every event of the export (100 lines here)."""
    export = tmp_path / "events.jsonl"
    assert runner.invoke(app, ["--as", CURATOR, "export", "--events", str(export)]).exit_code == 0
    lines = refused(runner, db_path, export)
    assert len(lines) == 1, lines[:3]
    assert lines[0].startswith("Error: events.jsonl line 1: is an events export"), lines
    assert "restore --events" in lines[0]


@pytest.mark.parametrize(("separator", "named"), [(";", "';'"), ("\t", "a tab")])
def test_a_catalogue_separated_by_semicolons_or_tabs_says_so(
    runner: CliRunner, db_path: Path, tmp_path: Path, separator: str, named: str
) -> None:
    """A spreadsheet saved with another separator (a European Excel writes ';')."""
    file = tmp_path / "excel.csv"
    text = f"{HEADER}\n{row(1)}\n".replace(",", separator)
    file.write_text(text, encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines == [
        f"Error: excel.csv: the header separates its columns with {named}; a catalogue is "
        "comma-separated (in a spreadsheet: save as 'CSV UTF-8 (comma delimited)')"
    ]


@pytest.mark.parametrize(
    ("mass", "words"),
    [
        ("1\u00a0mg", "U+00A0 NO-BREAK SPACE"),  # a spreadsheet's '1 mg' in some locales
        ("1\u202fmg", "U+202F NARROW NO-BREAK SPACE"),
        ("1\u200bmg", "U+200B ZERO WIDTH SPACE"),
    ],
)
def test_a_mass_with_an_invisible_character_names_it(
    runner: CliRunner, db_path: Path, tmp_path: Path, mass: str, words: str
) -> None:
    """Before: "contains non-printable characters", for a no-break space one cannot see."""
    file = tmp_path / "nbsp.csv"
    file.write_text(f"{HEADER}\n{row(1, mass=mass)}\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines[0].startswith("nbsp.csv line 2: mass: "), lines
    assert f"non-printable character {words}; type a plain space" in lines[0], lines


@pytest.mark.parametrize("typed", ["1e-0", "1E2", "1.50", "-0.0"])
def test_a_json_number_that_is_not_whole_is_quoted_as_typed(
    runner: CliRunner, db_path: Path, tmp_path: Path, typed: str
) -> None:
    """Before: '1e-0' was "not 1", '1E2' "not 1E+2": the message quoted what Python made of it."""
    line = (
        '{"kind": "loan.consumed", "actor": "anand@open.example", "payload": {"number": '
        '"L-1", "sample": "S", "technique": "SIMS", "destructive": true, "mass_ug": %s}}\n'
    )
    file = tmp_path / "numbers.jsonl"
    file.write_text(line % typed, encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines[0] == f"numbers.jsonl line 1: payload.mass_ug: give a whole number, not {typed}"


@pytest.mark.parametrize("first", ["[", "{"])
def test_a_json_document_over_many_lines_is_one_line_not_one_per_line(
    runner: CliRunner, db_path: Path, tmp_path: Path, first: str
) -> None:
    """Before: a pretty-printed file (`loans list --json` saved as .json) gave one 'not valid
    JSON' line for each of its lines."""
    file = tmp_path / "loans.json"
    body = '  {\n    "kind": "loan.approved",\n    "payload": {}\n  }\n'
    file.write_text(f"{first}\n{body}{']' if first == '[' else ''}\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert lines == [
        "Error: loans.json line 1: starts a JSON document written over several lines; a "
        "history is JSON Lines, one event object on each line"
    ]


def test_a_refused_row_after_blank_lines_is_named_by_its_own_line(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """Before: blank lines were counted after the row, so the row on line 7 was 'line 5'."""
    file = tmp_path / "gaps.csv"
    rows = [HEADER, row(1), "", "", row(2, mass="2 kg"), "", row(3, mass="3 kg")]
    file.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    lines = refused(runner, db_path, file)
    assert [line.split(": ")[0] for line in lines[:2]] == ["gaps.csv line 5", "gaps.csv line 7"]


@pytest.mark.parametrize("rows_after", [5, 10_000])
def test_a_quote_never_closed_is_named_where_it_opens(
    runner: CliRunner, db_path: Path, tmp_path: Path, rows_after: int
) -> None:
    """Before: 'has 11 fields but the header has 13' (a few rows after), or 'a field is longer
    than 131,072 characters' at line 1528 (many rows after): neither named the stray quote."""
    rows = [row(n) for n in range(rows_after)]
    rows[2] = row(2, storage_location='"NAOC A')  # line 4: the quote opens, never closes
    file = tmp_path / "quote.csv"
    file.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    first = refused(runner, db_path, file)[0].removeprefix("Error: ")
    assert first.startswith("quote.csv line 4: a quoted value opens on this line and is "), first
    assert "close its quote" in first


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_file_is_named_as_such(
    runner: CliRunner, db_path: Path, tmp_path: Path, encoding: str
) -> None:
    """Windows' "Unicode text": before, 'the byte 0xFF at character 1 is not UTF-8'."""
    file = tmp_path / "unicode.csv"
    text = f"{HEADER}\n{row(1)}\n"
    file.write_bytes(
        ("\ufeff" + text).encode(encoding) if encoding.endswith("be") else text.encode(encoding)
    )
    lines = refused(runner, db_path, file)
    assert lines == [
        "Error: unicode.csv: is UTF-16 text (it starts with a UTF-16 byte-order mark); save the "
        "file as UTF-8"
    ]


def test_the_progress_bar_counts_a_line_that_is_not_utf8_without_failing() -> None:
    """On a terminal the import counts bytes read for its progress bar, before the reader names
    the line that is not UTF-8: counting must not fail on it (it would print a traceback)."""
    import io

    from sampleloans.commands.bulk import CountedLines

    raw = b"ok\nM\xfcnchen\n" * 150  # 300 lines: the count is reported every 200
    handle = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    reported: list[int] = []
    lines = list(CountedLines(handle, reported.append))
    assert len(lines) == 300
    assert reported == [len(b"ok\nM\xfcnchen\n") * 100]
