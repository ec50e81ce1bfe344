"""Issue 10, items 9, 14 (input), 15 and 24: what `import` and the registering commands accept.

Who an imported event names, hostile JSON and CSV, wrong values that used to pass, and the
refused-catalogue path that used to re-run every good record slowly.
"""

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.ledger.envelope import imported_os_user, importer_of
from sampleloans.services import bulk, reference, samples
from sampleloans.services.bulk import BulkRejected, import_records
from sampleloans.services.verify import verify
from sampleloans.text import clean_email, clean_name, clean_text
from tests.conftest import CURATOR, Run, ctx_for, fingerprint
from tests.test_bulk import HEADER, LATER, Record, history, jsonl

SECOND = "wang@naoc.example"
LATER_NOW = "2025-05-01T09:00:00Z"


def invoke(runner: CliRunner, *args: str) -> Result:
    """Run the CLI in-process."""
    return runner.invoke(app, list(args))


def write(tmp_path: Path, name: str, content: str) -> Path:
    """A file in the test's folder."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def refused_import(
    runner: CliRunner, db_path: Path, path: Path, *, code: int, actor: str = CURATOR
) -> list[str]:
    """Import a file that must be refused with `code`, nothing written; its stderr lines, each
    of which names the file (`FILE line N: …`, `Error: FILE: …`), without that name."""
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", actor, "import", str(path)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert fingerprint(db_path) == before
    lines = result.stderr.splitlines()
    assert all(path.name in line for line in lines), lines
    return [_without_file_name(line, path.name) for line in lines]


def _without_file_name(line: str, name: str) -> str:
    """A refused record's line or the refusal's summary without the file name it starts with."""
    if line.startswith(f"{name} line "):
        return line.removeprefix(f"{name} ")
    if line.startswith(f"Error: {name}: ") and " records refused" in line:
        return "Error: " + line.removeprefix(f"Error: {name}: ")
    return line


def row(code: str, mass: str = "1 mg", depth: tuple[str, str] = ("", "")) -> str:
    origin = "drill" if depth[0] else "scoop"
    place = f"{code},CE-5,{origin},{depth[0]},{depth[1]}"
    return f"{place},regolith,powder,research,{mass},illustrative,A,,,"


def catalogue(rows: list[str], header: str = HEADER) -> str:
    return header + "".join(r + "\n" for r in rows)


# --- item 9: who an imported event names --------------------------------------------------------


@pytest.fixture
def second_curator(engine: Engine, cli_env: dict[str, str], runner: CliRunner) -> str:
    """A second curator, who runs the imports."""
    engine.dispose()
    result = invoke(
        runner, "--as", CURATOR, "people", "add", SECOND, "--name", "Wang Fang",
        "--institution", "NAOC", "--role", "curator",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return SECOND


def test_custody_history_names_the_curator_who_imported_each_event(
    second_curator: str,
    tmp_path: Path,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER_NOW)
    path = write(tmp_path, "history.jsonl", jsonl(history()))
    result = invoke(runner, "--as", second_curator, "import", str(path))
    assert result.exit_code == 0, result.output
    shown = invoke(runner, "--as", CURATOR, "custody", "history", "--loan", "L-BULK-1", "--json")
    events = json.loads(shown.stdout)["events"]
    assert len(events) == 6  # requested … consumed
    assert {e["actor"] for e in events} == {CURATOR}  # who did each act, as the file says
    assert {e["imported_by"] for e in events} == {second_curator}  # and who put it here
    monkeypatch.setenv("COLUMNS", "300")  # the whole actor cell on one line
    table = invoke(runner, "--as", CURATOR, "custody", "history", "--loan", "L-BULK-1")
    # the actor cell may wrap beside a back-dated entry's two times: read it without the wrap
    rows = [line.split("│") for line in table.stdout.splitlines() if "│" in line]
    cells = " ".join(row[4].strip() for row in rows)
    assert f"imported by {second_curator}" in " ".join(cells.split())
    # an event recorded by its own command names nobody as importer
    sample = invoke(runner, "--as", CURATOR, "custody", "history", "--sample",
                    "CE5C0200YJFM00112", "--json")  # fmt: skip
    assert {e["imported_by"] for e in json.loads(sample.stdout)["events"]} == {None}
    assert invoke(runner, "--as", CURATOR, "verify").exit_code == 0


def test_a_line_whose_actor_could_not_have_acted_is_refused(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER_NOW)
    records = history()
    # a compliance officer consumes (the loan's own researcher may: issue 14 point 6)
    records[7] = {**records[7], "actor": "compliance@naoc.example"}
    records[3] = {**records[3], "actor": "ghost@naoc.example"}  # nobody of that name
    records[4] = {**records[4], "actor": "curаtor@naoc.example"}  # Cyrillic а
    engine.dispose()
    lines = refused_import(runner, db_path, write(tmp_path, "h.jsonl", jsonl(records)), code=2)
    assert lines[0].startswith("line 4: actor: 'ghost@naoc.example' is not a registered person")
    assert lines[1].startswith("line 5: actor: 'curаtor@naoc.example' contains 'а' (U+0430")
    assert lines[2].startswith("line 6: ")  # issuing an unapproved loan: follows from line 4
    assert any(
        line.startswith("line 8: actor: compliance@naoc.example is a compliance officer")
        for line in lines
    )


def test_a_researcher_may_be_the_actor_of_what_researchers_do(engine: Engine) -> None:
    records = history()
    records.append(
        {"kind": "loan.inventory", "occurred_at": "2025-04-10T10:00:00Z",
         "actor": "muenker@uni-koeln.example", "payload": {"number": "L-BULK-1"}}
    )  # fmt: skip
    with db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), jsonl(records).splitlines(), fmt="jsonl")
    with engine.connect() as connection:
        actor, os_user = connection.execute(
            text("SELECT actor, os_user FROM ledger_event ORDER BY seq DESC LIMIT 1")
        ).one()
    assert actor == "muenker@uni-koeln.example"
    assert importer_of(os_user) == CURATOR
    assert verify(engine).ok


def test_the_importer_mark_reads_back() -> None:
    assert importer_of(imported_os_user("alice", CURATOR)) == CURATOR
    assert importer_of("alice") is None


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"kind": "loan.approved", "kind": "loan.issued", "actor": "%s", '
         '"payload": {"number": "L-1"}}', "kind"),
        ('{"kind": "loan.consumed", "actor": "%s", "payload": {"number": "L-1", "sample": "S", '
         '"technique": "SIMS", "mass_ug": 1, "mass_ug": 1000, "destructive": true}}', "mass_ug"),
        ('{"kind": "sample.split", "actor": "%s", "payload": {"parent": "S", '
         '"children": [{"a": 1, "a": 2}]}}', "a"),
    ],
)  # fmt: skip
def test_duplicate_json_keys_are_refused_at_any_depth(
    line: str,
    key: str,
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    path = write(tmp_path, "dup.jsonl", "\n" + line % CURATOR + "\n")
    lines = refused_import(runner, db_path, path, code=2)
    assert lines[0] == f"line 2: the key '{key}' appears twice in one object"


# --- item 14: hostile input gets one line, exit 2, nothing written -----------------------------


def consume_line(mass: str) -> str:
    payload = (
        '{"number": "L-BULK-1", "sample": "CE5C0100YJFM00201", "technique": "SIMS", '
        f'"mass_ug": {mass}, "destructive": true}}'
    )
    return f'{{"kind": "loan.consumed", "actor": "{CURATOR}", "payload": {payload}}}'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "line 1: not valid JSON (nested too deeply"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "line 1: not valid JSON (nested too deeply"),
        (consume_line("9" * 5000), "line 1: the number '999999999999999999999999…' has 5,000 "),
        (consume_line("1e400"), "line 1: payload.mass_ug: give a whole number, not 1e400"),
        (consume_line(str(10**20)), f"line 1: the number '{10**20}' has 21 digits"),
        (consume_line("9" * 19), f"line 1: payload.mass_ug: {'9' * 19} is out of range"),
        (consume_line("NaN"), "line 1: payload.mass_ug: NaN is not a number the ledger takes"),
        (consume_line("-Infinity"),
         "line 1: payload.mass_ug: -Infinity is not a number the ledger takes"),
        (consume_line("true"), "line 1: payload.mass_ug: give a whole number, not true"),
        (consume_line("2.0"), "line 1: payload.mass_ug: give a whole number, not 2.0"),
        (consume_line('"2000"'), "line 1: payload.mass_ug: give a whole number, not '2000'"),
        (consume_line("-5"), "line 1: payload.mass_ug: -5 is out of range"),
    ],
    ids=["deep-array", "deep-object", "5000-digits", "1e400", "10^20", "2^63+", "nan", "-inf",
         "true", "float", "string", "negative"],
)  # fmt: skip
def test_hostile_json_lines_get_one_line_each(
    content: str,
    expected: str,
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    lines = refused_import(runner, db_path, write(tmp_path, "h.jsonl", content + "\n"), code=2)
    assert lines[0].startswith(expected), lines[0]
    assert len(lines[0]) < 400  # one readable line, not the input echoed back


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"kind": ["loan.approved"]}, "kind: [\"loan.approved\"] cannot be imported"),
        ({"kind": "loan.approved", "actor": CURATOR, "payload": {"number": ["L"]}},
         "payload.number: give text, not [\"L\"]"),
        ({"kind": "loan.received", "actor": CURATOR,
          "payload": {"number": "L", "seal_intact": 1, "condition": "ok"}},
         "payload.seal_intact: give true or false, not 1"),
        ({"kind": "sample.split", "actor": CURATOR,
          "payload": {"parent": "S", "children": [["S-1", True]]}},
         "payload.children[0][1]: give a whole number, not true"),
        ({"kind": "loan.recalled", "actor": CURATOR, "payload": {"number": "L", "due_at": "x"},
          "reason": 7}, "reason: give text, not 7"),
        ({"kind": "event.corrected", "actor": CURATOR, "payload": {"text": "x"},
          "corrects_seq": True}, "corrects_seq: give a whole number, not true"),
    ],
)  # fmt: skip
def test_every_field_must_have_the_type_its_event_declares(
    record: dict[str, object], expected: str, engine: Engine
) -> None:
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), [json.dumps(record)], fmt="jsonl")
    assert refused.value.details[0].startswith(f"line 1: {expected}"), refused.value.details


def test_a_csv_field_of_10_mb_is_one_line(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    huge = row("BIG1").replace("regolith", "x" * 10_000_000)
    path = write(tmp_path, "big.csv", catalogue([row("OK1"), huge]))
    lines = refused_import(runner, db_path, path, code=2)
    assert lines == [
        "Error: big.csv line 3: a field is longer than 131,072 characters; no catalogue value "
        "is that long"
    ]


def test_a_long_mass_field_is_refused_at_once(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    # a long run of digits that fails late sent the mass parser's regular expressions into
    # quadratic backtracking (minutes for this field); now each is read once
    engine.dispose()
    path = write(tmp_path, "m.csv", catalogue([row("LONG1", "1." + "1" * 100_000 + "e5 mg")]))
    lines = refused_import(runner, db_path, path, code=2)
    assert lines[0].startswith("line 2: mass: '1.111")
    assert "uses exponent notation" in lines[0]


@pytest.mark.parametrize(
    "depth",
    [("1e400", "2"), ("1" * 5000, "2"), ("nan", "3"), ("-1", "2"), ("28.55", "30"), ("١", "2")],
)
def test_a_catalogue_depth_beyond_any_real_number_is_refused(
    depth: tuple[str, str],
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    path = write(tmp_path, "d.csv", catalogue([row("DEEP1", depth=depth)]))
    lines = refused_import(runner, db_path, path, code=2)
    assert lines[0].startswith("line 2: depth_top_cm: "), lines[0]
    assert "is not a depth in cm" in lines[0]


def test_json_depths_beyond_the_deepest_drill_are_refused(run: Run) -> None:
    for top, bottom in ((0, 10**18), (-5, 10)):
        with pytest.raises(InvalidInput, match="depth: give TOP-BOTTOM"):
            run(
                samples.register_sample, code=f"D{top}", mission="CE-5", mass_ug=1,
                origin="drill", material_type="r", physical_form="p", purpose_class="research",
                storage_location="A", depth_top_mm=top, depth_bottom_mm=bottom,
            )  # fmt: skip


# --- item 15: wrong values that used to pass ---------------------------------------------------


def test_a_header_naming_a_column_twice_is_refused(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    header = HEADER.replace(",source\n", ",mass\n")
    path = write(tmp_path, "twice.csv", catalogue([row("TWICE1") + "1 g"], header=header))
    lines = refused_import(runner, db_path, path, code=2)
    assert lines == [
        "Error: twice.csv: the header names 'mass' more than once; name each column once"
    ]


def test_rows_with_more_or_fewer_fields_than_the_header_are_refused(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    rows = [row("W1"), row("W2") + ",extra", row("W3"), "W4,CE-5,scoop"]
    lines = refused_import(runner, db_path, write(tmp_path, "w.csv", catalogue(rows)), code=2)
    assert lines[:2] == [
        'line 3: has 15 fields but the header has 14; quote a value that contains a comma ("a, b")',
        'line 5: has 3 fields but the header has 14; quote a value that contains a comma ("a, b")',
    ]


def test_a_catalogue_with_a_byte_order_mark_is_accepted(
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER_NOW)
    engine.dispose()
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + catalogue([row("BOM1"), row("BOM2")]).encode("utf-8"))
    result = invoke(runner, "--as", CURATOR, "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 2 samples" in result.stdout
    jsonl_path = tmp_path / "history.jsonl"
    jsonl_path.write_bytes(b"\xef\xbb\xbf" + jsonl(history()[:2]).encode("utf-8"))
    result = invoke(runner, "--as", CURATOR, "import", str(jsonl_path))
    assert result.exit_code == 0, result.output


def test_samples_of_a_mission_may_not_exceed_what_it_returned_cli(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    base = ["--as", CURATOR, "samples", "register", "--mission", "CE-5", "--mass", "1500 g",
            "--origin", "scoop", "--material", "regolith", "--form", "powder",
            "--purpose", "research", "--location", "A"]  # fmt: skip
    first = invoke(runner, *base[:4], "BIG-1", *base[4:])
    assert first.exit_code == 0, first.output
    before = fingerprint(db_path)
    second = invoke(runner, *base[:4], "BIG-2", *base[4:])
    assert second.exit_code == 1, second.output
    assert second.stderr.startswith(
        "Error: mission CE-5 returned 1,731.000 g in all; its samples already registered hold "
    )
    assert "1,500.000 g more would make" in second.stderr
    assert fingerprint(db_path) == before


def test_samples_of_a_mission_may_not_exceed_what_it_returned_import(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    rows = [row(f"CE5-{n}", "1500 g") for n in range(3)]
    lines = refused_import(runner, db_path, write(tmp_path, "c.csv", catalogue(rows)), code=1)
    assert [line.split(":")[0] for line in lines[:2]] == ["line 3", "line 4"]
    assert lines[0].startswith("line 3: mission CE-5 returned 1,731.000 g in all")


def register(run: Run, code: str, mass_ug: int) -> None:
    """Register a CE-5 scoop sample through the service."""
    run(
        samples.register_sample, code=code, mission="CE-5", mass_ug=mass_ug, origin="scoop",
        material_type="r", physical_form="p", purpose_class="research", storage_location="A",
    )  # fmt: skip


def test_split_children_do_not_count_against_the_mission(run: Run) -> None:
    # only root samples add up to the return: a split moves mass, it does not create it
    register(run, "ROOT1", 1_690_000_000)  # with the ~14 g already registered: 1,704 g
    run(samples.split_sample, parent="ROOT1", children=[("-01", 1_000_000_000)])
    register(run, "ROOT2", 20_000_000)  # 1,724 g: the 1,000 g child is not counted again
    with pytest.raises(RuleViolation, match=r"mission CE-5 returned 1,731\.000 g"):
        register(run, "ROOT3", 20_000_000)  # 1,744 g


LOOKALIKES = [
    ("anаnd@open.example", "contains 'а' (U+0430 CYRILLIC SMALL LETTER A)"),
    ("anand@open.example\u2028", "contains the control or format character"),
    ("an and@open.example", "is not an e-mail address"),
    ("anand@open..example", "is not an e-mail address"),
    ("anand@@open.example", "is not an e-mail address"),
    ("anand@ópen.example", "contains 'ó'"),
]


@pytest.mark.parametrize(("email", "reason"), LOOKALIKES)
def test_people_add_refuses_e_mails_that_are_not_plain_ascii_addresses(
    email: str,
    reason: str,
    engine: Engine,
    db_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    before = fingerprint(db_path)
    result = invoke(runner, "--as", CURATOR, "people", "add", email, "--name", "A N",
                    "--institution", "OU", "--role", "researcher")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: EMAIL: ") and reason in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert fingerprint(db_path) == before


NAMES = [
    ("Mаhesh Anand", "the word 'Mаhesh' mixes Latin and Cyrillic letters"),
    ("Mahesh\u2028Anand", "U+2028 LINE SEPARATOR"),
    ("Mahesh\u2029Anand", "U+2029 PARAGRAPH SEPARATOR"),
    ("Mahesh\u202eAnand", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Mahesh\u200bAnand", "U+200B ZERO WIDTH SPACE"),
    ("Αnand", "mixes Greek and Latin letters"),
]


@pytest.mark.parametrize(("name", "reason"), NAMES)
def test_names_with_look_alike_letters_or_separators_are_refused(
    name: str,
    reason: str,
    engine: Engine,
    db_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    before = fingerprint(db_path)
    person = invoke(runner, "--as", CURATOR, "people", "add", "new@open.example", "--name", name,
                    "--institution", "OU", "--role", "researcher")  # fmt: skip
    place = invoke(runner, "--as", CURATOR, "institutions", "add", "NEW", "--name", "Lab",
                   "--country", "UK", "--city", name, "--kind", "borrower")  # fmt: skip
    for result, field in ((person, "--name"), (place, "--city")):
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: {field}: ") and reason in result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert fingerprint(db_path) == before


def test_the_same_text_rules_apply_to_import(engine: Engine) -> None:
    records = [
        {"kind": "person.added", "actor": CURATOR, "payload": {
            "email": "new@open.example", "name": "Mаhesh", "institution": "OU",
            "role": "researcher"}},
        {"kind": "person.added", "actor": CURATOR, "payload": {
            "email": "nеw@open.example", "name": "Mahesh", "institution": "OU",
            "role": "researcher"}},
        {"kind": "institution.added", "actor": CURATOR, "payload": {
            "short_name": "NEW", "name": "Lab\u2028", "country": "UK", "city": "Leeds",
            "institution_kind": "borrower"}},
    ]  # fmt: skip
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(), jsonl(records).splitlines(), fmt="jsonl")
    details = refused.value.details
    assert details[0].startswith("line 1: name: the word 'Mаhesh' mixes Latin and Cyrillic")
    assert details[1].startswith("line 2: email: 'nеw@open.example' contains 'е' (U+0435")
    assert details[2].startswith("line 3: name: contains the control or format character")


def test_text_rules_accept_real_names_in_any_one_script(run: Run) -> None:
    for name in ("Carsten Münker", "Frédéric Moynier", "大阪大学", "Мюнкер Карстен", "Ωμέγα Lab"):
        assert clean_name(name, "name") == name
    assert clean_name("α-quartz Lab", "name") == "α-quartz Lab"  # words split at the hyphen
    assert clean_text("regolith, 50–400 µm", "material") == "regolith, 50–400 µm"
    assert clean_email(" Anand@Open.Example ") == "anand@open.example"
    assert clean_email("a.b+c@xn--bcher-kva.example") == "a.b+c@xn--bcher-kva.example"
    run(
        reference.add_person, email="moynier2@ipgp.example", name="Frédéric Moynier",
        institution="IPGP", role="researcher",
    )  # fmt: skip


# --- item 24: a refused catalogue does not re-run every good record slowly ----------------------


def test_a_large_refused_catalogue_lists_every_bad_line_without_the_slow_pass(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slow(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the record-by-record reference path ran")

    monkeypatch.setattr(bulk, "_import_per_record", slow)
    rows = [row(f"MANY{i:05d}") for i in range(2500)]
    bad = {2: "1 parsec", 1000: "0 mg", 1001: "1 kg", 2501: "-1 mg"}  # file lines
    for line, mass in bad.items():
        rows[line - 2] = row(f"MANY{line - 2:05d}", mass)
    rows[1499] = row("MANY00010")  # line 1501: a code an earlier line registered
    engine.dispose()
    lines = refused_import(runner, db_path, write(tmp_path, "m.csv", catalogue(rows)), code=2)
    listed = [int(line.split(":")[0].removeprefix("line ")) for line in lines[:-1]]
    assert listed == [2, 1000, 1001, 1501, 2501]
    assert "already registered" in lines[3]
    assert lines[-1].startswith("Error: 5 of 2500 records refused; nothing was imported")


def _twin_errors(
    engine: Engine, lines: list[str], fmt: str, *, batch: int = 1000, reference: bool = False
) -> list[str]:
    """The refusals of one import, rolled back."""
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        if reference:
            bulk.require_importer(session, ctx_for(now=LATER))
            bulk._import_per_record(session, ctx_for(now=LATER), lines, fmt, "input", None)
        else:
            import_records(session, ctx_for(now=LATER), lines, fmt=fmt, batch=batch)
    return refused.value.details


def test_narrowed_batches_refuse_exactly_what_record_by_record_refuses(engine: Engine) -> None:
    def with_mass(record: Record, mass_ug: int) -> Record:
        return {**record, "payload": {**record["payload"], "mass_ug": mass_ug}}

    created, consumed = history()[0], history()[7]
    records: list[object] = list(history())
    records.insert(1, {**created, "payload": {**created["payload"], "term": "x"}})
    records.insert(4, "{not json")
    records[9] = with_mass(consumed, 10**9 + 1)  # line 10: more than the whole sample
    records.append(consumed)  # line 11: 2,000 µg, accepted
    records.append(with_mass(consumed, 999_999_000))  # line 12: more than the 999,998,000 µg left
    registered: Record = {
        "kind": "sample.registered", "occurred_at": "2025-04-20T10:00:00Z", "actor": CURATOR,
        "payload": {"code": "TWIN1", "mission": "CE-5", "origin": "scoop", "material_type": "r",
                    "physical_form": "p", "purpose_class": "research", "storage_location": "A",
                    "mass_ug": 5, "custodian": "OU"},
    }  # fmt: skip
    records.append(registered)  # line 13: refused after it appended (the custodian is NAOC)
    fixed = {**registered, "payload": {**registered["payload"], "custodian": "NAOC"}}
    records += [fixed, fixed]  # line 14 registers TWIN1 (13 left no trace), line 15 is refused
    lines = jsonl(records).splitlines()
    for batch in (3, 4, 1000):
        batched = _twin_errors(engine, lines, "jsonl", batch=batch)
        assert batched == _twin_errors(engine, lines, "jsonl", reference=True)
    assert [d.split(":")[0] for d in batched] == [
        "line 2", "line 5", "line 10", "line 12", "line 13", "line 15"
    ]  # fmt: skip
    assert "custodian is 'OU' but the ledger records 'NAOC'" in batched[4]
    assert "TWIN1 is already registered" in batched[5]
    # a refused record leaves no trace: the file without the refused lines imports the same
    good = [line for n, line in enumerate(lines, start=1) if n not in (2, 5, 10, 12, 13, 15)]
    with db.transaction(engine) as session:
        assert import_records(session, ctx_for(now=LATER), good, fmt="jsonl", batch=3).events == 9
    assert verify(engine).ok
