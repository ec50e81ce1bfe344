"""README promises checked against what the program writes: the names of `notify --outbox`'s
files (README said every one was "named by kind, institution and recipient"; a statement's
name has no institution: `statement-anand_open.example.eml`)."""

import re
from pathlib import Path

from tests.i15_statement_helpers import env_for, invoke, make_checkpoint

README = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")


def test_the_outbox_names_the_readme_gives_are_the_ones_written(
    ledger: Path, tmp_path: Path
) -> None:
    make_checkpoint(ledger, tmp_path)
    outbox = tmp_path / "ob"
    result = invoke(env_for(ledger), "notify", "--outbox", str(outbox))
    assert result.exit_code == 0, result.output
    written = {p.name for p in outbox.iterdir()}
    row = next(line for line in README.splitlines() if line.startswith("| `notify` |"))
    named = re.search(r"\(one per message: named ([^;]*);", row)
    assert named is not None, "README's notify row no longer says how the files are named"
    examples = set(re.findall(r"`([^`]+\.eml)`", named.group(1)))
    assert examples and examples <= written, (examples, written)


REGISTER = ("samples", "register", "--mission", "CE-5", "--origin", "scoop")
REGISTER_REST = ("--material", "glass", "--form", "bead", "--purpose", "research")


def register(ledger: Path, code: str, mass: str) -> tuple[int, str]:
    args = (*REGISTER[:2], code, *REGISTER[2:], *REGISTER_REST, "--location", "A", "--mass", mass)
    result = invoke(env_for(ledger), *args)
    return result.exit_code, result.stderr


def test_the_mission_total_refusals_have_the_codes_the_readme_gives(ledger: Path) -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `samples register` |"))
    assert "add up to more than it returned (exit 1;" in row
    assert "heavier on its own than the mission's whole return" in row and "exit 2" in row
    code, err = register(ledger, "CE5X0001", "2000 g")  # alone more than CE-5's 1,731 g
    assert code == 2 and "check the unit" in err, err
    code, err = register(ledger, "CE5X0002", "1720 g")  # with the demo's samples, too much
    assert code == 1 and "in all" in err, err


def test_the_collection_balance_csv_is_the_two_tables_the_readme_names(ledger: Path) -> None:
    assert "`balance` of the whole collection writes its two tables" in README
    result = invoke(env_for(ledger), "balance", "--csv")
    assert result.exit_code == 0, result.output
    items, samples = re.split(r"\r?\n\r?\n", result.stdout.strip())
    assert items.startswith("sample,state,") and "issued (µg)" in items.splitlines()[0]
    assert samples.startswith("sample,custody state,") and "initial (µg)" in samples


def test_a_mass_correction_refusal_names_what_the_readme_names(ledger: Path) -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `custody correct` |"))
    assert "a receipt's or return's weighing" in row
    result = invoke(env_for(ledger), "custody", "correct", "5", "--mass", "1mg", "--reason", "x")
    assert result.exit_code == 2
    assert "a consumption, a receipt's or return's weighing, a registration" in result.stderr
