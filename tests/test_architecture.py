"""The layering of docs/architecture.md, checked on what importing each layer really loads.

Each layer's modules are imported in a fresh interpreter and `sys.modules` is read there, so an
import hidden two modules down (a report importing a read model that imports the database)
fails as surely as a direct one. Imports inside functions are not loaded by an import; for the
commands, whose heavy imports are all inside functions, those are read from the source.
"""

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sampleloans"

# Leaves: anyone may import them; they load nothing of ours but each other.
LEAVES = (
    "errors", "units", "dates", "text", "crashpoints", "fileio", "certs", "mail", "vocab",
    "gcpause", "interrupts", "fields",
)  # fmt: skip
LEAF_MODULES = ("sampleloans", *(f"sampleloans.{leaf}" for leaf in LEAVES))
DATABASE = ("sqlalchemy", "sqlmodel")
USER_INTERFACE = ("typer", "click", "rich")
LOWER = ("services", "ledger")  # never print, never read the environment or the clock
WRITE_SIDE = (
    "sampleloans.db",
    "sampleloans.models",
    "sampleloans.ledger",
    "sampleloans.services",
)


def module_name(path: Path) -> str:
    """`sampleloans/reports/custody.py` → `sampleloans.reports.custody`."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*layers: str) -> list[str]:
    """The modules of the given top-level layers (`reports`, `errors`, …), sorted."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).parts
        if relative[0].removesuffix(".py") in layers:
            found.append(module_name(path))
    return found


@cache
def loaded_by(names: tuple[str, ...]) -> frozenset[str]:
    """Every module in `sys.modules` after a fresh interpreter imports `names`."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(names)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return frozenset(json.loads(done.stdout))


def offenders(loaded: frozenset[str], forbidden: tuple[str, ...]) -> list[str]:
    """The loaded modules that are, or are inside, one of `forbidden`."""
    return sorted(
        name for name in loaded if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def culprits(names: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of `names`, each imported alone, loads what is forbidden (for the message)."""
    found = {}
    for name in names:
        bad = offenders(loaded_by((name,)), forbidden)
        if bad:
            found[name] = bad[:8]
    return found


def ours_outside(loaded: frozenset[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Modules of ours loaded that are none of `allowed` (and not inside one of them)."""
    return tuple(
        sorted(
            name
            for name in loaded
            if name.startswith("sampleloans.")
            and name not in LEAF_MODULES
            and not any(name == a or name.startswith(a + ".") for a in allowed)
        )
    )


def assert_loads_nothing_of(names: list[str], forbidden: tuple[str, ...]) -> None:
    """Importing `names` in a fresh interpreter loads none of `forbidden`."""
    assert names, "no modules found: the layer moved?"
    bad = offenders(loaded_by(tuple(names)), forbidden)
    assert not bad, f"loaded {bad[:12]}; by module: {culprits(names, forbidden)}"


def test_leaves_load_nothing_of_ours_but_leaves() -> None:
    names = modules(*LEAVES)
    loaded = loaded_by(tuple(names))
    assert ours_outside(loaded, ()) == ()
    assert offenders(loaded, DATABASE + USER_INTERFACE + ("reportlab",)) == []


def test_read_models_load_no_database_and_nothing_below() -> None:
    """Read models are frozen dataclasses: no SQL, no SQLAlchemy, no ledger, no services."""
    names = modules("readmodels")
    loaded = loaded_by(tuple(names))
    assert ours_outside(loaded, ("sampleloans.readmodels",)) == ()
    assert_loads_nothing_of(names, DATABASE + USER_INTERFACE + ("reportlab",))


def test_reports_load_only_read_models_and_leaves() -> None:
    """`reports/` turns read models into PDF bytes: it never loads the database, the ledger
    store or a service, not even through a module it imports."""
    names = modules("reports")
    loaded = loaded_by(tuple(names))
    outside = ours_outside(loaded, ("sampleloans.reports", "sampleloans.readmodels"))
    assert outside == (), f"by module: {culprits(names, outside)}"
    assert_loads_nothing_of(names, DATABASE + USER_INTERFACE)


@pytest.mark.parametrize("layer", ["services", "ledger", "db", "models", "demo"])
def test_the_lower_layers_load_no_interface(layer: str) -> None:
    """Services, the ledger and the database never load the command line, rich, reportlab,
    the reports or the commands."""
    assert_loads_nothing_of(
        modules(layer),
        (
            *USER_INTERFACE,
            "reportlab",
            "sampleloans.cli",
            "sampleloans.commands",
            "sampleloans.reports",
        ),
    )


def test_commands_load_nothing_heavy_until_they_run() -> None:
    """Importing every command module (as `--help` may) loads no database, no reportlab and
    nothing of ours below the commands: each command imports what it needs when it runs."""
    names = ["sampleloans.cli", *modules("commands")]
    assert_loads_nothing_of(names, (*DATABASE, "reportlab", *WRITE_SIDE, "sampleloans.reports"))


# What a command module may import, at the top or inside a function: the services, the read
# models, the PDF renderer, the leaves and the commands' own helpers. The service call context
# (`ledger/envelope.py`'s Context) is part of every service's signature, so it is allowed too;
# the engine, the session factory, the models and the ledger's internals are not.
COMMAND_IMPORTS = (
    "sampleloans.services",
    "sampleloans.readmodels",
    "sampleloans.reports",
    "sampleloans.commands",
    "sampleloans.demo",
    "sampleloans.ledger.envelope",
    *LEAF_MODULES[1:],
)


def imported(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "sampleloans":  # `from sampleloans import db`
                names |= {f"sampleloans.{alias.name}" for alias in node.names}
            else:
                names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "commands").glob("*.py")), ids=lambda p: p.name)
def test_commands_import_services_read_models_and_leaves_only(path: Path) -> None:
    below = [
        name
        for name in imported(path)
        if name.startswith("sampleloans")
        and not any(name == a or name.startswith(a + ".") for a in COMMAND_IMPORTS)
    ]
    assert below == [], f"{path.name} reaches below the services: {below}"


def test_reportlab_only_in_reports() -> None:
    users = [
        module_name(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(name.startswith("reportlab") for name in imported(path))
    ]
    assert users, "no module imports reportlab: the reports moved?"
    assert [u for u in users if not u.startswith("sampleloans.reports")] == []


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] in LOWER],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_services_never_print_read_env_or_clock(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "print" not in calls
    assert not [c for c in calls if c.endswith(("datetime.now", "utc_now", "datetime.utcnow"))]
    assert "os.environ" not in source and "os.getenv" not in source


def public_definitions(tree: ast.Module) -> list[ast.FunctionDef | ast.ClassDef]:
    """Module-level functions and classes, and the methods of those classes."""
    found: list[ast.FunctionDef | ast.ClassDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found.append(node)
        if isinstance(node, ast.ClassDef):
            found += [n for n in node.body if isinstance(n, ast.FunctionDef)]
    return [n for n in found if not n.name.startswith("_")]


def test_every_public_function_has_a_docstring() -> None:
    missing = [
        f"{path.relative_to(PACKAGE)}:{node.name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in public_definitions(ast.parse(path.read_text(encoding="utf-8")))
        if ast.get_docstring(node) is None
    ]
    assert missing == []
