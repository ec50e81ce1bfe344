"""Sweep s24 "spec": the README's session on PostgreSQL prints what it prints on SQLite.

README ("Several sites"): every command works there "with the same rules, messages and exit
codes" (issue 14 point 1). The session of "A session", typed against the demo in a PostgreSQL
database, prints every line the README shows, but for `verify`'s engine check (`PostgreSQL
triggers in place` where SQLite says `SQLite integrity ok`). Its `not checked:` line said the
kept checkpoints' keys "are in the same file" (and, after an anchor, "whoever can write the
file"): no file holds a PostgreSQL ledger; both now say "the ledger", true on either engine.
"""

from typer.testing import CliRunner

from sampleloans.cli import app
from tests.test_sweep_docs_session import session_differences

ENGINE_CHECK = ("SQLite integrity ok", "PostgreSQL triggers in place")


def test_the_readme_session_on_postgres_prints_what_the_readme_shows(pg_url: str) -> None:
    env = {"COLUMNS": "100", "NO_COLOR": "1", "SAMPLELOANS_DB": pg_url, "SAMPLELOANS_USER": ""}
    # the demo writes to a --db typed on the command line, never to SAMPLELOANS_DB
    demo = CliRunner().invoke(app, ["--db", pg_url, "demo"], env={**env, "SAMPLELOANS_NOW": ""})
    assert demo.exit_code == 0, demo.output

    def run(words: list[str], env: dict[str, str]) -> tuple[int, str]:
        done = CliRunner().invoke(app, words[1:], env=env)
        return done.exit_code, done.stdout + done.stderr

    differences = session_differences(run, env, lambda line: line.replace(*ENGINE_CHECK))
    assert differences == [], "\n".join(differences)


def test_verify_on_postgres_names_no_file(demo_url: str) -> None:
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "400"}
    done = CliRunner().invoke(
        app, ["--db", demo_url, "--as", "compliance@naoc.example", "verify"], env=env
    )
    assert done.exit_code == 0, done.output
    unproven = done.stdout.splitlines()[-1]
    assert unproven.startswith("not checked: that this is the lender's ledger")
    assert "file" not in unproven and "their keys are in the ledger too" in unproven
