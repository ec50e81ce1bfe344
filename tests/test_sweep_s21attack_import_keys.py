"""Sweep s21, an attacker feeding `import` hostile numbers: each refusal names the key.

A history line with a mass past 10 kg (`"mass_ug": 9007199254740993`, beyond JSON's safe
integers) or a zero consumption was refused, but as `mass: …` or `loss: …`: the service's
words, not the file's key, although the README promises the history line's key. A mass is
kept under its words and `_ug` (`mass_ug`, `loss_ug`, `mass_lost_ug`); the refusal now names it.
"""

import json
from pathlib import Path
from typing import Any

from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, invoke

AT = {"occurred_at": "2026-05-01T00:00:00Z", "actor": "curator@naoc.example"}


def _line(kind: str, payload: dict[str, Any]) -> str:
    """One history line of `kind` with `payload`."""
    return json.dumps(
        {"kind": kind, **AT, "payload": payload, "reason": None, "corrects_seq": None}
    )


REGISTERED = {
    "code": "CE5C0000QQ1",
    "condition": "pristine",
    "custodian": "NAOC",
    "depth_bottom_mm": None,
    "depth_top_mm": None,
    "mass_ug": 9007199254740993,
    "material_type": "regolith",
    "mission": "CE-5",
    "origin": "scoop",
    "physical_form": "powder",
    "purpose_class": "research",
    "record": "real",
    "storage_location": "NAOC N2 cabinet B",
}
CONSUMED = {
    "destructive": False,
    "mass_ug": 0,
    "number": "L-2025-OU",
    "sample": "CE5C0200YJFM00112",
    "technique": "EPMA",
}


def test_a_refused_mass_names_its_key(ledger: Path, tmp_path: Path) -> None:
    """Before: `line 1: mass: …`, `line 2: mass: …`."""
    history = tmp_path / "h.jsonl"
    lines = [_line("sample.registered", REGISTERED), _line("loan.consumed", CONSUMED)]
    history.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "import", str(history))
    assert result.exit_code == 2, result.stdout
    refused = result.stderr.splitlines()
    assert refused[0].startswith("h.jsonl line 1: mass_ug: "), refused
    assert "is more than 10 kg" in refused[0]
    assert refused[1].startswith("h.jsonl line 2: mass_ug: 0 µg is zero"), refused
    assert fingerprint(ledger) == before


def test_a_catalogue_column_keeps_its_own_name(ledger: Path, tmp_path: Path) -> None:
    """A catalogue names the mass `mass` (with a unit): that column is still the one named."""
    header = "code,mission,origin,material_type,physical_form,mass,purpose_class,storage_location"
    row = "CE5C0000QQ2,CE-5,scoop,regolith,powder,0 mg,research,NAOC N2 cabinet B"
    catalogue = tmp_path / "c.csv"
    catalogue.write_text(f"{header}\n{row}\n", encoding="utf-8")
    result = invoke(env_for(ledger), "import", str(catalogue))
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("c.csv line 2: mass: "), result.stderr


def test_one_imported_event_is_counted_in_the_singular(ledger: Path, tmp_path: Path) -> None:
    """Before: `Imported 1 events from h.jsonl in one transaction.`"""
    added = {
        "short_name": "ZZ",
        "name": "Zeta University",
        "country": "France",
        "city": "Paris",
        "institution_kind": "borrower",
    }
    history = tmp_path / "h.jsonl"
    history.write_text(_line("institution.added", added) + "\n", encoding="utf-8")
    result = invoke(env_for(ledger), "import", str(history))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Imported 1 event from {history} in one transaction.\n"
