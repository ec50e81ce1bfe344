"""A key typed with blanks around it (`--institution ' OU'`, `loans show ' L-2025-OU'`) names
the same record as the key alone, on every command that takes one: a read prints the same and
exits the same, a write records the same events; blanks alone are refused (exit 2) naming the
option, and blanks inside a key (`'O U'`) stay part of it.

The (command, key option) pairs are found by walking the command line itself (`KEY_METAVARS`
and the key names below), so a new command's key option fails `test_every_key_option_is_tried`
until a case here tries it."""

import json
import shlex
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import KEY_METAVARS, SETTINGS, app
from tests.conftest import CURATOR, DEMO_NOW, OU_PI, demo_copy, fingerprint

K = "§"
"""Marks the word of a case's command line that is the key under test."""

KEY_NAMES = frozenset(
    {
        "institution", "custodian", "to", "short_name", "loan", "number", "agreement",
        "sample", "code", "codes", "parent", "child", "weighed", "email", "pi", "approver",
        "curator_email", "seal", "mission", "material", "location",
        "released_by", "received_by", "courier", "witness",
    }
)  # fmt: skip
"""Parameter names that hold a key whatever their placeholder: a key option whose placeholder
is not in KEY_METAVARS is found by its name, and fails the walk below."""

NEW = "L-NEW"
VAULT = "CE5C0000YJBP005"  # a vault sample of the demo (26.3 mg)
OU_HELD = "CE5C0300YJFM00307"  # a 20 mg sample held on L-2025-OU
SUPARCO_HELD = "CE5Z0200YJFM00103"  # all of L-2025-SUPARCO (100 mg)
REQUEST = f"loans request {NEW} --agreement AG-2025-OU --pi {OU_PI} --sample {VAULT}"
APPROVE = f"loans approve {NEW}"
ISSUE = f"loans issue {NEW}"
SHIP = f"loans ship {NEW} --container box --seal S-9 --method post"
RECEIVE = f"loans receive {NEW} --seal-intact --condition pristine --weighed {VAULT}=26.3mg"
RETURN = f"loans return L-2025-OU --container box --seal S-8 --method post --sample {OU_HELD}"
ACCEPT = f"loans accept-return L-2025-OU --seal-intact --condition fine --weighed {OU_HELD}=20mg"
SUPARCO_BACK = (
    f"loans return L-2025-SUPARCO --container box --seal S-7 --method post --sample {SUPARCO_HELD}",
    f"loans accept-return L-2025-SUPARCO --seal-intact --condition fine "
    f"--weighed {SUPARCO_HELD}=100mg",
)
"""L-2025-SUPARCO's samples returned and accepted: the loan may be settled."""
SETTLE = "loans settle L-2025-SUPARCO --obligations 'report in'"
CONSUME = f"loans consume L-2025-OU --sample {OU_HELD} --technique SEM --mass '1 mg'"
SPLIT = f"loans split L-2025-OU --sample {OU_HELD} --child -M1 --mass '1 mg'"
REGISTER = (
    "samples register CE5ZZ0001 --mission CE-5 --mass '1 mg' --origin scoop --material basalt"
    " --form powder --purpose research --location 'NAOC cabinet B'"
)
AGREEMENT = (
    "agreements add AG-NEW --institution OU --term '5 years' --max-mass '1 g' --purpose research"
    " --max-loan-period '12 months'"
)
PERSON = "people add new@open.example --name 'Ada New' --institution OU --role researcher"
EXTEND = f"loans extend L-2025-OU --period '6 months' --approver {CURATOR} --reason downtime"
WHO = ("released_by", "received_by", "courier", "witness")

Case = tuple[str, tuple[str, ...]]
"""A command line (its key marked with K) and the command lines run before it, as the curator."""


def marked(line: str, word: str) -> str:
    """`line` with its (first) word `word` marked as the key under test."""
    words = shlex.split(line)
    at = words.index(word)
    return shlex.join([*words[:at], f"{K}{word}", *words[at + 1 :]])


def _handovers() -> dict[tuple[str, str], Case]:
    """The hand-over persons of every hand-over step, each named by a registered e-mail."""
    steps: dict[str, Case] = {
        "loans issue": (ISSUE, (REQUEST, APPROVE)),
        "loans ship": (SHIP, (REQUEST, APPROVE, ISSUE)),
        "loans receive": (RECEIVE, (REQUEST, APPROVE, ISSUE, SHIP)),
        "loans return": (RETURN, ()),
        "loans accept-return": (ACCEPT, (RETURN,)),
    }
    staff = {("loans issue", "released_by"), ("loans issue", "received_by"),
             ("loans ship", "released_by"), ("loans accept-return", "received_by")}  # fmt: skip
    cases: dict[tuple[str, str], Case] = {}
    for command, (line, before) in steps.items():
        for option in WHO:
            email = CURATOR if (command, option) in staff else OU_PI
            cases[(command, option)] = (f"{line} --{option.replace('_', '-')} {K}{email}", before)
    return cases


READS: dict[tuple[str, str], str] = {
    ("balance", "sample"): f"balance --sample {K}{OU_HELD}",
    ("balance", "loan"): f"balance --loan {K}L-2025-OU",
    ("overdue", "institution"): f"overdue --institution {K}Osaka",
    ("status", "loan"): f"status --loan {K}L-2025-OU",
    ("status", "institution"): f"status --institution {K}OU",
    ("samples list", "mission"): f"samples list --mission {K}CE-5",
    ("samples list", "material"): f"samples list --material {K}basalt",
    ("samples list", "location"): f"samples list --location '{K}cabinet A'",
    ("samples list", "custodian"): f"samples list --custodian {K}OU",
    ("samples show", "code"): f"samples show {K}{OU_HELD}",
    ("samples tree", "code"): f"samples tree {K}CE5C0100YJFM00201",
    ("institutions show", "short_name"): f"institutions show {K}OU",
    ("people list", "institution"): f"people list --institution {K}OU",
    ("people show", "email"): f"people show {K}Anand@open.example",
    ("agreements list", "institution"): f"agreements list --institution {K}OU",
    ("agreements show", "number"): f"agreements show {K}AG-2025-OU",
    ("loans list", "institution"): f"loans list --institution {K}OU",
    ("loans list", "pi"): f"loans list --pi {K}{OU_PI}",
    ("loans show", "number"): f"loans show {K}L-2025-OU",
    ("custody history", "seal"): f"custody history --loan L-2025-OU --seal {K}SL-OU-01",
}
"""Read commands: the same stdout and exit code with the key as with blanks around it."""

REPORTS: dict[tuple[str, str], str] = {
    ("report return", "loan"): f"report return --loan {K}L-2025-IPGP",
    ("report overdue", "institution"): f"report overdue --institution {K}Osaka",
    ("report inventory", "loan"): f"report inventory --loan {K}L-2025-OU",
    ("report statement", "institution"): f"report statement --institution {K}OU",
    ("report statement", "pi"): f"report statement --pi {K}{OU_PI}",
}
"""Reports: the same stdout, exit code and document with the key as with blanks around it."""
for _option, _key in (("sample", OU_HELD), ("loan", "L-2025-OU"), ("institution", "OU")):
    # one subject of a custody history, or of its report
    READS[("custody history", _option)] = f"custody history --{_option} {K}{_key}"
    REPORTS[("report custody", _option)] = f"report custody --{_option} {K}{_key}"

WRITES: dict[tuple[str, str], Case] = {
    ("samples register", "code"): (marked(REGISTER, "CE5ZZ0001"), ()),
    ("samples register", "mission"): (marked(REGISTER, "CE-5"), ()),
    ("samples register", "material"): (marked(REGISTER, "basalt"), ()),
    ("samples register", "location"): (marked(REGISTER, "NAOC cabinet B"), ()),
    ("samples split", "parent"): (f"samples split {K}{VAULT} --child -01=1mg", ()),
    ("samples split", "child"): (f"samples split {VAULT} --child {K}-01=1mg", ()),
    ("samples move", "code"): (f"samples move {K}{VAULT} --location shelf", ()),
    ("samples move", "location"): (f"samples move {VAULT} --location '{K}NAOC shelf 2'", ()),
    ("samples transfer", "codes"): (f"samples transfer {K}{VAULT} --to MNHN --reference g", ()),
    ("samples transfer", "to"): (f"samples transfer {VAULT} --to {K}MNHN --reference g", ()),
    ("institutions add", "short_name"): (
        f"institutions add {K}XU --name 'X University' --country UK --city York --kind borrower",
        (),
    ),
    ("institutions rename", "short_name"): (
        f"institutions rename {K}OU --name 'Open U' --reason 'a typo'",
        (),
    ),
    ("institutions set-place", "short_name"): (
        f"institutions set-place {K}OU --city 'Milton Keynes' --country UK --reason 'a typo'",
        (),
    ),
    ("people add", "email"): (marked(PERSON, "new@open.example").replace("new@", "New@"), ()),
    ("people add", "institution"): (marked(PERSON, "OU"), ()),
    ("people deactivate", "email"): (f"people deactivate {K}pi@brown.example --reason left", ()),
    ("people reactivate", "email"): (
        f"people reactivate {K}pi@brown.example --reason back",
        ("people deactivate pi@brown.example --reason left",),
    ),
    ("people rename", "email"): (
        f"people rename {K}pi@brown.example --name 'Brown PI' --reason 'a typo'",
        (),
    ),
    ("people set-role", "email"): (
        f"people set-role {K}Compliance@naoc.example --role curator --reason 'a second curator'",
        (),
    ),
    ("agreements add", "number"): (marked(AGREEMENT, "AG-NEW"), ()),
    ("agreements add", "institution"): (marked(AGREEMENT, "OU"), ()),
    ("agreements sign", "number"): (
        f"agreements sign {K}AG-2025-Brown --signed-by 'LESEC and Brown'",
        (),
    ),
    ("agreements expire", "number"): (f"agreements expire {K}AG-2025-IPGP --reason done", ()),
    ("agreements terminate", "number"): (
        f"agreements terminate {K}AG-2025-IPGP --reason done",
        (),
    ),
    ("loans request", "number"): (marked(REQUEST, NEW), ()),
    ("loans request", "agreement"): (marked(REQUEST, "AG-2025-OU"), ()),
    ("loans request", "pi"): (marked(REQUEST, OU_PI), ()),
    ("loans request", "sample"): (marked(REQUEST, VAULT), ()),
    ("loans approve", "number"): (marked(APPROVE, NEW), (REQUEST,)),
    ("loans issue", "number"): (marked(ISSUE, NEW), (REQUEST, APPROVE)),
    ("loans ship", "number"): (marked(SHIP, NEW), (REQUEST, APPROVE, ISSUE)),
    ("loans ship", "seal"): (marked(SHIP, "S-9"), (REQUEST, APPROVE, ISSUE)),
    ("loans receive", "number"): (marked(RECEIVE, NEW), (REQUEST, APPROVE, ISSUE, SHIP)),
    ("loans receive", "weighed"): (
        marked(RECEIVE, f"{VAULT}=26.3mg"),
        (REQUEST, APPROVE, ISSUE, SHIP),
    ),
    ("loans consume", "number"): (f"{marked(CONSUME, 'L-2025-OU')} --non-destructive", ()),
    ("loans consume", "sample"): (f"{marked(CONSUME, OU_HELD)} --non-destructive", ()),
    ("loans split", "number"): (marked(SPLIT, "L-2025-OU"), ()),
    ("loans split", "sample"): (marked(SPLIT, OU_HELD), ()),
    ("loans split", "child"): (marked(SPLIT, "-M1"), ()),
    ("loans return", "number"): (marked(RETURN, "L-2025-OU"), ()),
    ("loans return", "seal"): (marked(RETURN, "S-8"), ()),
    ("loans return", "sample"): (marked(RETURN, OU_HELD), ()),
    ("loans accept-return", "number"): (marked(ACCEPT, "L-2025-OU"), (RETURN,)),
    ("loans accept-return", "weighed"): (marked(ACCEPT, f"{OU_HELD}=20mg"), (RETURN,)),
    ("loans extend", "number"): (marked(EXTEND, "L-2025-OU"), ()),
    ("loans extend", "approver"): (marked(EXTEND, CURATOR).replace(CURATOR, CURATOR.upper()), ()),
    ("loans recall", "number"): (
        f"loans recall {K}L-2025-OU --due 2026-05-01 --reason audit",
        (),
    ),
    ("loans inventory", "number"): (f"loans inventory {K}L-2025-OU --note 'all there'", ()),
    ("loans settle", "number"): (marked(SETTLE, "L-2025-SUPARCO"), SUPARCO_BACK),
    ("loans close", "number"): (f"loans close {K}L-2025-SUPARCO", (*SUPARCO_BACK, SETTLE)),
    ("loans withdraw", "number"): (f"loans withdraw {K}L-2025-Brown --reason 'not needed'", ()),
    ("incidents report", "sample"): (
        f"incidents report --sample {K}{OU_HELD} --kind damage --description dust",
        (),
    ),
    ("custody correct", "sample"): (
        # event 95: L-2025-OU's receipt, three samples weighed
        f"custody correct 95 --mass '19.9 mg' --reason log --sample {K}{OU_HELD}",
        (),
    ),
    **_handovers(),
}
"""Writes: the same events recorded with the key as with blanks around it (two copies of one
demo ledger, one clock)."""

INITS: dict[tuple[str, str], str] = {
    ("init", "curator_email"): f"init --curator-email {K}Li@naoc.example --curator-name 'Li Na'",
    ("init", "institution"): (
        f"init --curator-email li@naoc.example --curator-name 'Li Na' --institution {K}NAOC"
    ),
}
"""`init`: the same events in two new ledgers (but the ledger's random id)."""

NOTIFY: dict[tuple[str, str], str] = {
    ("notify", "institution"): f"notify --institution {K}Osaka",
}
"""`notify` into an outbox: the same output and the same messages."""


def _walk(command: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(command as typed, parameter) for every parameter of every command."""
    subs = getattr(command, "commands", None)
    if subs is not None:
        for name in subs:
            yield from _walk(subs[name], f"{path} {name}".strip())
        return
    for param in command.params:
        yield path, param


def _key_params() -> set[tuple[str, str]]:
    """Every (command, parameter name) that takes a key, by placeholder or by name."""
    root = typer.main.get_command(app)
    return {
        (path, param.name)
        for path, param in _walk(root)
        if not getattr(param, "is_flag", False)
        and param.name not in SETTINGS
        and (param.metavar in KEY_METAVARS or param.name in KEY_NAMES)
    }


ALL_CASES = {**READS, **REPORTS, **{k: v[0] for k, v in WRITES.items()}, **INITS, **NOTIFY}


def test_every_key_option_is_tried() -> None:
    """Each key option or argument of every command has a case below (a new one fails here)."""
    assert _key_params() == set(ALL_CASES)


def _typed(line: str, key: str) -> list[str]:
    """The command line's words, its marked word typed as `key` says (`' {} '`: spaced)."""
    return [key.replace("{}", w[1:]) if w.startswith(K) else w for w in shlex.split(line)]


def _env(db: Path) -> dict[str, str | None]:
    """A CLI environment on `db` at a fixed clock, no colour, fixed width, no actor but `--as`."""
    return {
        "SAMPLELOANS_DB": str(db),
        "SAMPLELOANS_NOW": DEMO_NOW,
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "SAMPLELOANS_USER": None,
    }


def _invoke(db: Path, args: list[str], actor: str = CURATOR) -> Any:
    """The CLI run as `actor` on `db`."""
    return CliRunner().invoke(app, ["--as", actor, *args], env=_env(db))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a signed checkpoint (statements and notices need one)."""
    folder = tmp_path_factory.mktemp("s41keys")
    db = demo_copy(folder / "demo")
    key = folder / "cp.key"
    env = _env(db)
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)], env=env).exit_code == 0
    signed = CliRunner().invoke(app, ["--as", CURATOR, "checkpoint", "--key", str(key)], env=env)
    assert signed.exit_code == 0, signed.stderr
    return db


@pytest.mark.parametrize("pair", sorted(READS), ids=" ".join)
def test_a_read_with_blanks_around_the_key_answers_as_the_key(
    base: Path, pair: tuple[str, str]
) -> None:
    """Blanks (spaces, a tab, a no-break space) around the key change nothing."""
    plain = _invoke(base, _typed(READS[pair], "{}"))
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.strip()
    for spaced in (" {} ", "\t{}\u00a0", "  {}"):
        result = _invoke(base, _typed(READS[pair], spaced))
        assert (result.exit_code, result.stdout, result.stderr) == (0, plain.stdout, ""), spaced


def _reported(folder: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, db: Path) -> Any:
    """A report run in `folder` (its --out there, named alike whatever the folder)."""
    folder.mkdir()
    monkeypatch.chdir(folder)
    out = "out" if args[1] == "statement" else "out.pdf"
    result = _invoke(db, [*args, "--out", out, "--generated-at", DEMO_NOW])
    made = (path for path in folder.rglob("*") if path.is_file())
    files = {path.relative_to(folder).as_posix(): path.read_bytes() for path in made}
    return result, files


@pytest.mark.parametrize("pair", sorted(REPORTS), ids=" ".join)
def test_a_report_with_blanks_around_the_key_is_the_same_document(
    base: Path, tmp_path: Path, pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same line, exit code and files, byte for byte."""
    plain, plain_files = _reported(tmp_path / "a", _typed(REPORTS[pair], "{}"), monkeypatch, base)
    assert plain.exit_code == 0, plain.stderr
    assert plain_files
    spaced, files = _reported(tmp_path / "b", _typed(REPORTS[pair], " {} "), monkeypatch, base)
    assert (spaced.exit_code, spaced.stdout, spaced.stderr) == (0, plain.stdout, "")
    assert files == plain_files


def _events(db: Path, after: int = 0) -> list[tuple[Any, ...]]:
    """What the ledger recorded after event `after`: kind, payload, time, actor, reason."""
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(
            "SELECT seq, kind, payload, occurred_at, actor, reason, corrects_seq"
            " FROM ledger_event WHERE seq > ? ORDER BY seq",
            (after,),
        ).fetchall()


_STATES: dict[tuple[str, ...], Path] = {}
"""Each list of steps' ledger, built once per test process from `base`."""


def _state(base: Path, steps: tuple[str, ...], folder: Path) -> Path:
    """A copy in `folder` of `base` after `steps`, each run as the curator."""
    if steps not in _STATES:
        built = folder.parent / f"state-{len(_STATES)}.db"
        shutil.copy2(base, built)
        for step in steps:
            done = _invoke(built, shlex.split(step))
            assert done.exit_code == 0, (step, done.stderr)
        _STATES[steps] = built
    folder.mkdir()
    return Path(shutil.copy2(_STATES[steps], folder / "ledger.db"))


@pytest.mark.parametrize("pair", sorted(WRITES), ids=" ".join)
def test_a_write_with_blanks_around_the_key_records_the_same(
    base: Path, tmp_path: Path, pair: tuple[str, str]
) -> None:
    """Two copies of one ledger, one clock: the same output and the same events."""
    line, steps = WRITES[pair]
    first, second = _state(base, steps, tmp_path / "a"), _state(base, steps, tmp_path / "b")
    before = len(_events(first))
    actor = OU_PI if line.startswith("loans receive") else CURATOR
    plain = _invoke(first, _typed(line, "{}"), actor)
    assert plain.exit_code == 0, plain.stderr
    spaced = _invoke(second, _typed(line, " {}\t"), actor)
    assert (spaced.exit_code, spaced.stdout, spaced.stderr) == (0, plain.stdout, "")
    recorded = _events(first, before)
    assert recorded
    assert _events(second, before) == recorded


def _payloads(db: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every event's kind and payload, the ledger's random id left out."""
    rows = [(kind, json.loads(payload)) for _seq, kind, payload, *_ in _events(db)]
    return [(kind, {k: v for k, v in p.items() if k != "ledger_id"}) for kind, p in rows]


@pytest.mark.parametrize("pair", sorted(INITS), ids=" ".join)
def test_init_with_blanks_around_the_key_records_the_same(
    tmp_path: Path, pair: tuple[str, str]
) -> None:
    """Two new ledgers, one clock: the same events (their ids aside) and the same line."""
    results = []
    for name, key in (("a", "{}"), ("b", "\u00a0{} ")):
        db = tmp_path / name / "ledger.db"
        db.parent.mkdir()
        result = CliRunner().invoke(app, _typed(INITS[pair], key), env=_env(db))
        assert result.exit_code == 0, result.stderr
        results.append((result.stdout.replace(str(db), "DB"), _payloads(db)))
    assert results[0] == results[1]
    assert results[0][1]


@pytest.mark.parametrize("pair", sorted(NOTIFY), ids=" ".join)
def test_notify_with_blanks_around_the_key_sends_the_same(
    base: Path, tmp_path: Path, pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one ledger: the same output and the same messages in the outbox."""
    seen = []
    for name, key in (("a", "{}"), ("b", " {} ")):
        db = _state(base, (), tmp_path / name)
        before = len(_events(db))
        monkeypatch.chdir(db.parent)
        result = _invoke(db, [*_typed(NOTIFY[pair], key), "--outbox", "outbox"])
        assert result.exit_code == 0, result.stderr
        outbox = db.parent / "outbox"
        files = {p.name: p.read_bytes() for p in sorted(outbox.rglob("*")) if p.is_file()}
        seen.append((result.stdout, _events(db, before), files))
    assert seen[0] == seen[1]
    assert seen[0][2]  # an outbox records nothing: its messages are the proof


@pytest.mark.parametrize("pair", sorted(ALL_CASES), ids=" ".join)
def test_blanks_alone_are_refused_naming_the_option(base: Path, pair: tuple[str, str]) -> None:
    """Only blanks where a key goes: exit 2, one line naming the option, nothing written."""
    words = shlex.split(ALL_CASES[pair])
    before = fingerprint(base)
    result = _invoke(base, _typed(ALL_CASES[pair], "   "))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    position = next(i for i, word in enumerate(words) if word.startswith(K))
    before_key = words[position - 1]
    named = before_key if before_key.startswith("--") else _metavar(pair)
    assert result.stderr.startswith(f"Error: {named}: must not be empty"), result.stderr
    assert result.stderr.count("\n") == 1
    assert fingerprint(base) == before


def _metavar(pair: tuple[str, str]) -> str:
    """The placeholder of the argument `pair` names, as the usage line shows it."""
    command, name = pair
    root = typer.main.get_command(app)
    return next(p.metavar for path, p in _walk(root) if path == command and p.name == name)


@pytest.mark.parametrize(
    ("args", "typed"),
    [
        (("status", "--institution", "O U"), "--institution 'O U'"),
        (("loans", "show", "L-2025 OU"), "NUMBER 'L-2025 OU'"),
        (("people", "show", " anand @open.example "), "EMAIL"),
    ],
)
def test_blanks_inside_a_key_stay_part_of_it(base: Path, args: tuple[str, ...], typed: str) -> None:
    """Only the ends are trimmed: a key with a space inside names no record (exit 2)."""
    result = _invoke(base, list(args))
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"Error: {typed}"), result.stderr


def test_the_acting_person_with_blanks_around_is_the_same_person(base: Path) -> None:
    """`--as ' Anand@open.example '` acts as anand@open.example, with their scope."""
    plain = _invoke(base, ["status"], OU_PI)
    spaced = _invoke(base, ["status"], f" {OU_PI.capitalize()}\t")
    assert plain.exit_code == 0, plain.stderr
    assert (spaced.exit_code, spaced.stdout) == (0, plain.stdout)
    assert "L-2025-OU" in plain.stdout and "L-2025-UoC" not in plain.stdout


def test_a_key_argument_of_blanks_is_refused_before_the_role(base: Path) -> None:
    """A compliance officer's blank sample code is a malformed line (exit 2), as for anyone."""
    result = _invoke(base, ["samples", "move", "  ", "--location", "x"], "compliance@naoc.example")
    assert result.exit_code == 2
    assert result.stderr == "Error: CODE: must not be empty; give a value\n"


def test_an_event_or_checkpoint_number_with_blanks_around_it_is_the_number(
    base: Path, tmp_path: Path
) -> None:
    """`checkpoint show ' 1 '` prints checkpoint 1; `custody correct ' 95 '` corrects event 95
    (whole numbers are read by `whole_number`, which takes the blanks around digits)."""
    plain = _invoke(base, ["checkpoint", "show", "1"])
    assert plain.exit_code == 0, plain.stderr
    spaced = _invoke(base, ["checkpoint", "show", "\t1 "])
    assert (spaced.exit_code, spaced.stdout) == (0, plain.stdout)
    recorded = []
    for name, seq in (("a", "95"), ("b", " 95 ")):
        db = _state(base, (), tmp_path / name)
        before = len(_events(db))
        done = _invoke(db, ["custody", "correct", seq, "--text", "seal SL-OU-01"])
        assert done.exit_code == 0, done.stderr
        recorded.append((done.stdout, _events(db, before)))
    assert recorded[0] == recorded[1]
    assert recorded[0][1][0][6] == 95  # corrects_seq


def test_a_blank_sender_setting_stays_a_setting_refused(base: Path, tmp_path: Path) -> None:
    """`SAMPLELOANS_SMTP_FROM='   '` names no record: the SMTP settings' refusal, exit 3, as
    before keys were trimmed (not the key rule's exit 2)."""
    env = {**_env(base), "SAMPLELOANS_SMTP_FROM": "   "}
    args = ["--as", CURATOR, "notify", "--institution", "Osaka", "--outbox", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args, env=env)
    assert (result.exit_code, result.stderr) == (3, "Error: SMTP from: must not be empty\n")
