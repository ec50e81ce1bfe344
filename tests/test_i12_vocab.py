"""Issue 12 §7: vocabularies are StrEnums; the CHECK constraints come from them; services,
commands and reports compare through them, never through a scattered string literal."""

import ast
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint

from sampleloans import models, vocab
from sampleloans.ledger.chain import canonical

PACKAGE = Path(__file__).resolve().parent.parent / "sampleloans"
ENUM_CHECKS = {
    ("institution", "institution_kind"): vocab.InstitutionKind,
    ("person", "person_role"): vocab.Role,
    ("agreement", "agreement_status"): vocab.AgreementStatus,
    ("sample", "sample_origin"): vocab.Origin,
    ("sample", "sample_purpose_class"): vocab.PurposeClass,
    ("loan", "transfer_type"): vocab.TransferType,
    ("loan", "loan_status"): vocab.LoanStatus,
}


def check_sql(table: str, name: str) -> str:
    """The SQL text of one named CHECK constraint of a table."""
    (found,) = [
        c
        for c in models.SQLModel.metadata.tables[table].constraints
        if isinstance(c, CheckConstraint) and c.name == name
    ]
    return str(found.sqltext)


@pytest.mark.parametrize(("table", "name"), sorted(ENUM_CHECKS))
def test_check_constraints_are_generated_from_the_enums(table: str, name: str) -> None:
    enum = ENUM_CHECKS[(table, name)]
    listed = check_sql(table, name).split(" IN ", 1)[1].strip("()").split(", ")
    assert [v.strip("'") for v in listed] == [member.value for member in enum]


def test_the_schema_refuses_a_value_outside_the_vocabulary(db_path: Path, engine) -> None:
    with sqlite3.connect(db_path) as connection, pytest.raises(sqlite3.IntegrityError):
        connection.execute(
            "INSERT INTO institution (short_name, name, country, city, kind)"
            " VALUES ('X', 'X', 'X', 'X', 'pawnbroker')"
        )


def test_members_are_the_stored_strings() -> None:
    assert vocab.LoanStatus.RETURN_IN_TRANSIT == "return_in_transit"
    assert json.dumps({"s": vocab.LoanStatus.ISSUED}) == '{"s": "issued"}'
    assert canonical({"role": vocab.Role.COMPLIANCE_OFFICER}) == '{"role":"compliance_officer"}'
    assert vocab.sql_in("kind", vocab.IncidentKind) == "kind IN ('loss', 'theft', 'damage')"


VOCABULARY_ATTRIBUTES = {"status", "custody_state", "state", "role", "kind", "source", "direction"}
ALL_VALUES = {
    m.value
    for e in vars(vocab).values()
    if isinstance(e, type)
    for m in getattr(e, "__members__", {}).values()
}
# the write-side internals another change owns; their literals move with it
NOT_YET = {"ledger/apply.py", "ledger/batch.py", "ledger/store.py"}


def literal_comparisons(path: Path) -> list[str]:
    """`x.status == "issued"`-style comparisons of a vocabulary attribute with a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        attrs = [
            s for s in sides if isinstance(s, ast.Attribute) and s.attr in VOCABULARY_ATTRIBUTES
        ]
        literals = [
            c.value
            for s in sides
            for c in ([s] if isinstance(s, ast.Constant) else getattr(s, "elts", []))
            if isinstance(c, ast.Constant) and c.value in ALL_VALUES
        ]
        if attrs and literals:
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_no_vocabulary_literal_is_compared_in_services_commands_or_reports() -> None:
    paths = [
        p
        for layer in ("services", "commands", "reports", "ledger")
        for p in sorted((PACKAGE / layer).rglob("*.py"))
        if str(p.relative_to(PACKAGE)) not in NOT_YET
    ]
    assert [hit for p in paths for hit in literal_comparisons(p)] == []


def test_the_literal_detector_finds_literals() -> None:
    # the write-side internals still compare literals: the detector must see them
    assert literal_comparisons(PACKAGE / "ledger" / "apply.py")
