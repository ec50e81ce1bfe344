"""An institution's mistyped city or country is put right: `institutions set-place`.

Before: only a note on its `institution.added` event was possible, and `institutions show`,
every report's party block ("UoC, Cologne, Germany") and every statement went on printing the
typo. After: `institutions set-place SHORT --city --country --reason` records
`institution.place_changed` (the event names the place it replaces); every view and document
made from then on prints the new place, a report `--as-of` an earlier moment the place then,
`verify` replays it, an import of a history carries it, a statement built on an earlier
checkpoint says so; refused in one line, nothing recorded: the same place, an unknown
institution, a blank city, a researcher, a date before the institution's last change.
"""

import json
from pathlib import Path

import psycopg

from tests.i15_statement_helpers import env_for
from tests.pg_secured import CURATOR, own_login, secured_copy, secured_demo_template
from tests.pg_secured import cli as pg_cli
from tests.pgcluster import PgServer
from tests.test_sweep_s43corrections_rename import pdf_text as pdf_lines
from tests.test_sweep_s43corrections_void_consumption import demo, event_count, run

__all__ = ["demo", "secured_demo_template"]  # the fixtures, shared by name

TYPO_CITY = "Colgne"
REPORT = ("report", "custody", "--loan", "L-2025-UoC", "--generated-at", "2026-06-15T09:00:00Z")


def pdf_text(path: Path) -> str:
    """A PDF's text with its line breaks as spaces (a party's place wraps)."""
    return " ".join(pdf_lines(path).split())


def test_a_place_changed_reaches_every_view_and_keeps_the_old_one(demo: Path) -> None:
    env = env_for(demo)
    args = ("--country", "Germany", "--reason", "typed in the agreement's header")
    done = run(env, "institutions", "set-place", "UoC", "--city", TYPO_CITY, *args)
    assert done.stdout.strip() == f"UoC is now in {TYPO_CITY}, Germany; event 108."
    shown = json.loads(run(env, "institutions", "show", "UoC", "--json").stdout)
    assert (shown["city"], shown["country"]) == (TYPO_CITY, "Germany")
    history = json.loads(run(env, "custody", "history", "--institution", "UoC", "--json").stdout)
    (changed,) = [e for e in history["events"] if e["kind"] == "institution.place_changed"]
    assert changed["description"] == (
        f"institution UoC place changed: Cologne, Germany → {TYPO_CITY}, Germany"
    )
    assert changed["reason"] == "typed in the agreement's header"
    now_pdf, then_pdf = demo.parent / "now.pdf", demo.parent / "then.pdf"
    run(env, *REPORT, "--out", str(now_pdf))
    run(env, *REPORT, "--out", str(then_pdf), "--as-of", "2026-01-01")
    assert f"UoC, {TYPO_CITY}, Germany" in pdf_text(now_pdf)
    assert "UoC, Cologne, Germany" in pdf_text(then_pdf) and TYPO_CITY not in pdf_text(then_pdf)
    run(env, "verify")


def test_a_place_change_imported_from_a_history(demo: Path, tmp_path: Path) -> None:
    line = {
        "kind": "institution.place_changed",
        "occurred_at": "2026-06-01T00:00:00Z",
        "actor": "curator@naoc.example",
        "payload": {
            "short_name": "UoC",
            "previous_city": "Cologne",
            "previous_country": "Germany",
            "city": "Köln",
            "country": "Germany",
        },
        "reason": "the city's own name",
        "corrects_seq": None,
    }
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    env = env_for(demo)
    run(env, "import", str(history))
    assert json.loads(run(env, "institutions", "show", "UoC", "--json").stdout)["city"] == "Köln"
    run(env, "verify")


def test_a_place_change_that_cannot_be_is_one_line_and_records_nothing(demo: Path) -> None:
    curator, researcher = env_for(demo), env_for(demo, actor="muenker@uni-koeln.example")
    refusals = [
        (curator, ("UoC", "--city", "Cologne", "--country", "Germany"), 2, "already in Cologne"),
        (curator, ("NOPE", "--city", "X", "--country", "Y"), 2, "no such institution"),
        (curator, ("UoC", "--city", " ", "--country", "Germany"), 2, "--city"),
        (researcher, ("UoC", "--city", "Köln", "--country", "Germany"), 4, "only curators"),
        # registered at the start of the demo: a change dated before it is refused
        (curator, ("UoC", "--city", "Köln", "--country", "Germany", "--at", "2020-01-01"), 1,
         "before institution UoC was registered"),
    ]  # fmt: skip
    for env, args, code, words in refusals:
        refused = run(env, "institutions", "set-place", *args, "--reason", "typo", code=code)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], lines
    assert event_count(demo) == 107


def test_a_rename_dated_before_a_change_of_place_is_refused(demo: Path) -> None:
    env = env_for(demo)
    run(env, "institutions", "set-place", "UoC", "--city", "Köln", "--country", "Germany",
        "--reason", "typo", "--at", "2026-06-01")  # fmt: skip
    refused = run(env, "institutions", "rename", "UoC", "--name", "U. Köln", "--reason", "x",
                  "--at", "2026-05-01", code=1)  # fmt: skip
    assert "was last given a place (event 108" in refused.stderr
    assert event_count(demo) == 108


def test_on_secured_postgresql_a_researcher_reads_only_their_own_institutions_change(
    pg_server: PgServer, secured_demo_template: str
) -> None:
    """The curator's own login records it (the database's defences let the new kind through);
    a researcher's login sees their institution's change of place and not another's; verify
    replays both."""
    with secured_copy(pg_server, secured_demo_template, "s44place") as url:
        curator = own_login(pg_server, url, CURATOR, "curator-pw")
        for short, city in (("OU", "Milton Keynes (UK)"), ("IPGP", "Paris 5e")):
            done = pg_cli(curator, "institutions", "set-place", short, "--city", city,
                          "--country", "France" if short == "IPGP" else "United Kingdom",
                          "--reason", "typo")  # fmt: skip
            assert done.exit_code == 0, done.output
        anand = own_login(pg_server, url, "anand@open.example", "anand-pw")
        with psycopg.connect(anand) as connection:
            seen = connection.execute("SELECT seq, kind FROM ledger_event WHERE seq > 107")
            assert seen.fetchall() == [(108, "institution.place_changed")]
        shown = pg_cli(anand, "institutions", "show", "OU", "--json")
        assert json.loads(shown.stdout)["city"] == "Milton Keynes (UK)"
        verified = pg_cli(curator, "verify")
        assert verified.exit_code == 0, verified.output
