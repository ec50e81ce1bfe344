"""docs/architecture.md's layer table, read in every import of the source, inside functions too.

`tests/test_architecture.py` imports each layer and reads `sys.modules`, so an import inside a
function is seen only for the commands. Before s43 `services/bag.py` imported
`reports/document.py` inside a function while the table said services never load `reports/`;
the table now names that one exception, and this test holds every layer to the table: a new
import that breaks it, at any depth of a function, fails here.
"""

from pathlib import Path

import pytest

from tests.test_architecture import LEAF_MODULES, PACKAGE, imported, module_name

LEAVES = LEAF_MODULES[1:]
INTERFACE = ("typer", "click", "rich", "reportlab", "sampleloans.cli", "sampleloans.commands")
# The one module of `reports/` a service may read, and the one service that reads it.
REPORT_FILE_READER = "sampleloans.reports.document"
READS_REPORT_FILES = "sampleloans.services.bag"


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether module `name` is one of `prefixes` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sources(*layers: str) -> list[Path]:
    """The source files of the given top-level layers (`services`, `db`, …)."""
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0].removesuffix(".py") in layers
    )


@pytest.mark.parametrize(
    "path",
    sources("services", "demo", "ledger", "db", "models", "migrate", "pgsecurity"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_lower_layers_import_no_interface_and_no_report(path: Path) -> None:
    allowed_reports = (REPORT_FILE_READER,) if module_name(path) == READS_REPORT_FILES else ()
    wrong = [
        name
        for name in imported(path)
        if within(name, INTERFACE)
        or (within(name, ("sampleloans.reports",)) and not within(name, allowed_reports))
    ]
    assert wrong == [], f"{path.name} imports {wrong} (docs/architecture.md, the layer table)"


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        ("readmodels", ("sampleloans.readmodels", *LEAVES)),
        ("reports", ("sampleloans.reports", "sampleloans.readmodels", *LEAVES)),
    ],
)
def test_read_models_and_reports_import_only_what_the_table_allows(
    layer: str, allowed: tuple[str, ...]
) -> None:
    wrong = {
        f"{path.name}: {name}"
        for path in sources(layer)
        for name in imported(path)
        if name.startswith("sampleloans") and not within(name, allowed)
    }
    assert sorted(wrong) == []


def test_the_exception_is_still_needed() -> None:
    """If `services/bag.py` stops reading report files, the table's exception goes too."""
    bag = PACKAGE / "services" / "bag.py"
    assert REPORT_FILE_READER in imported(bag)
    table = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "`reports/document.py` in `services/bag.py` only" in table
