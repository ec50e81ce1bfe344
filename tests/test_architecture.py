"""The layering of ARCHITECTURE.md, kept true with `ast`: imports only point down."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sampleloans"
LEAVES = ("errors", "units", "dates", "vocab")


def modules() -> list[Path]:
    """Every Python file of the package."""
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Top-level names of every module a file imports (including inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def layer(path: Path) -> str:
    """The layer a file belongs to."""
    relative = path.relative_to(PACKAGE).parts
    return relative[0].removesuffix(".py") if relative else ""


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    names = imported(path)
    here = layer(path)
    if here not in ("cli", "__main__"):
        assert not any(n.startswith("sampleloans.cli") for n in names), "nothing imports cli"
    if here in ("services", "ledger", "db", "models", *LEAVES):
        forbidden = ("typer", "rich", "reportlab", "sampleloans.commands", "sampleloans.reports")
        assert not [n for n in names if n.startswith(forbidden)], f"{path.name}: {names}"
    if here in LEAVES:
        ours = [n for n in names if n.startswith("sampleloans")]
        assert all(n.split(".")[1] in LEAVES for n in ours), f"leaf {path.name} imports {ours}"
    if here == "reports":
        assert not [n for n in names if n.startswith(("sqlmodel", "sqlalchemy", "sampleloans.db"))]
    if here != "reports":
        assert not [n for n in names if n.startswith("reportlab")], "reportlab only in reports/"


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if layer(p) in ("services", "ledger")],
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
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found.append(node)
        if isinstance(node, ast.ClassDef):
            found += [n for n in node.body if isinstance(n, ast.FunctionDef)]
    return [n for n in found if not n.name.startswith("_")]


def test_every_public_function_has_a_docstring() -> None:
    missing = [
        f"{path.relative_to(PACKAGE)}:{node.name}"
        for path in modules()
        for node in public_definitions(ast.parse(path.read_text(encoding="utf-8")))
        if ast.get_docstring(node) is None
    ]
    assert missing == []
