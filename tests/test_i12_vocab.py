"""Issue 12 §7: vocabularies are StrEnums; the CHECK constraints come from them; services,
commands and reports compare through them, never through a scattered string literal."""

import ast
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, Engine

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


def test_the_schema_refuses_a_value_outside_the_vocabulary(db_path: Path, engine: Engine) -> None:
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


VOCABULARY_ATTRIBUTES = {
    "status",
    "custody_state",
    "state",
    "role",
    "kind",
    "source",
    "direction",
}
WRITE_SIDE_ATTRIBUTES = VOCABULARY_ATTRIBUTES | {"subject_type"}
"""The ledger also indexes events by subject type through `SubjectType`."""
ALL_VALUES = {
    m.value
    for e in vars(vocab).values()
    if isinstance(e, type)
    for m in getattr(e, "__members__", {}).values()
}


def _names_vocabulary(node: ast.AST, attributes: set[str] = WRITE_SIDE_ATTRIBUTES) -> bool:
    """`x.status` or `table.c.status`: an attribute named like a vocabulary column."""
    return isinstance(node, ast.Attribute) and node.attr in attributes


def _literals(node: ast.AST) -> list[str]:
    """The vocabulary values written as literals in an expression: a constant, or one inside a
    tuple, list or set, or a branch of a conditional expression."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and node.value in ALL_VALUES else []
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [value for element in node.elts for value in _literals(element)]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def literal_uses(source: str, name: str, *, compare_only: bool = False) -> list[str]:
    """`x.status == "issued"`, `x.status = "issued"` and `Loan(status="issued")`-style uses of
    a vocabulary value as a string literal, as `name:line`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            attributes = VOCABULARY_ATTRIBUTES if compare_only else WRITE_SIDE_ATTRIBUTES
            hit = any(_names_vocabulary(s, attributes) for s in sides) and any(
                _literals(s) for s in sides if not _names_vocabulary(s)
            )
        elif compare_only:
            continue
        elif isinstance(node, ast.Assign):
            hit = any(map(_names_vocabulary, node.targets)) and bool(_literals(node.value))
        elif isinstance(node, ast.keyword):
            hit = node.arg in WRITE_SIDE_ATTRIBUTES and bool(_literals(node.value))
        else:
            continue
        if hit:
            found.append(f"{name}:{node.lineno}")
    return found


def literal_comparisons(path: Path, *, compare_only: bool = False) -> list[str]:
    """The literal uses of vocabulary values in one module of the package."""
    source = path.read_text(encoding="utf-8")
    return literal_uses(source, str(path.relative_to(PACKAGE)), compare_only=compare_only)


def test_no_vocabulary_literal_is_compared_in_services_commands_or_reports() -> None:
    paths = [
        p
        for layer in ("services", "commands", "reports")
        for p in sorted((PACKAGE / layer).rglob("*.py"))
    ]
    hits = [hit for p in paths for hit in literal_comparisons(p, compare_only=True)]
    assert hits == []


def test_the_ledger_neither_compares_nor_writes_a_vocabulary_literal() -> None:
    # the write side: what `apply` assigns and the unit queries by is typed as well
    paths = sorted((PACKAGE / "ledger").rglob("*.py"))
    assert [hit for p in paths for hit in literal_comparisons(p)] == []


@pytest.mark.parametrize(
    "source",
    [
        'if loan.status == "issued":\n    pass',
        'ok = item.state in ("held", "return_in_transit")',
        'sample.custody_state = "vault"',
        'item.state = sample.custody_state = "in_transit" if outbound else "held"',
        'store.insert(LoanItem, source="borrower_split")',
        'query.where(table.c.status == "open")',
    ],
)
def test_the_literal_detector_finds_literals(source: str) -> None:
    assert literal_uses(source, "example.py") == ["example.py:1"]


@pytest.mark.parametrize(
    "source",
    [
        "if loan.status == LoanStatus.ISSUED:\n    pass",
        "sample.custody_state = CustodyState.VAULT",
        "store.insert(LoanItem, source=ItemSource.BORROWER_SPLIT)",
        '_use_up(sample, item, mass_ug, "consumed")',
        'if loan.number == "issued":\n    pass',
    ],
)
def test_the_literal_detector_leaves_enum_members_and_other_fields_alone(source: str) -> None:
    assert literal_uses(source, "example.py") == []
