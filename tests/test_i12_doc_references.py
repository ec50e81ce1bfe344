"""Every file a document, docstring or comment names exists in this repository.

The design notes once lived outside the repository (`../shared/…`); a reader following a
reference must land on a file here. Markdown files are read whole; Python files only in their
docstrings and comments (a file name in a string literal of a test is data, not a reference).
A line with "Example:" shows a command line, whose file names are the user's.
"""

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "build", "dist", ".git", "__pycache__"}
# Where a bare or relative reference may point: the folders a reader of this project would try.
BASES = ("", "sampleloans", "docs", "tests", "data")
REFERENCE = re.compile(
    r"(?<![\w./<{-])"  # not inside a longer path, a URL or a placeholder such as <issue>
    r"((?:\.\./)*[\w.-]*[A-Za-z_][\w.-]*(?:/[\w.-]+)*"
    r"\.(?:md|py|toml|csv|png|ttc))\b"
)

# An indented two-column listing ("    data/events.jsonl   every event ...") pictures the files a
# command writes (a bag, an outbox), not files of this repository.
LISTING = re.compile(r"\s*\S+/\S*\s{2,}\S")
# Files a command writes (.json, .txt) are not checked: their names are the user's or the output's.


def repository_files() -> list[Path]:
    """The repository's own files: what git tracks or would track (not ignored), so that a
    virtual environment anywhere inside the clone (CI's `.ci-venv`) is never read."""
    try:
        listed = (
            subprocess.run(
                ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            .stdout.decode("utf-8")
            .split("\0")
        )
    except (OSError, subprocess.CalledProcessError):
        # not a git checkout (an unpacked archive): every file outside hidden folders
        listed = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")]
    return sorted(
        ROOT / name
        for name in listed
        if name
        and (ROOT / name).is_file()
        and not any(part.startswith(".") or part in SKIPPED_DIRS for part in Path(name).parts[:-1])
        and not any(part.endswith(("_cache", ".egg-info")) for part in Path(name).parts)
    )


FILES = repository_files()
NAMES = {path.name for path in FILES}


def prose(path: Path) -> str:
    """What a reader reads as text: a Markdown file whole, a Python file's docstrings and
    comments (one per line, in order)."""
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        # a fenced block shows commands and output, whose file names are the user's
        return re.sub(r"^```.*?^```", "", source, flags=re.S | re.M)
    parts: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            parts.append(ast.get_docstring(node) or "")
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    parts += [token.string for token in tokens if token.type == tokenize.COMMENT]
    return "\n".join(parts)


def resolves(reference: str, seen_from: Path) -> bool:
    """Whether a reference names a file inside the repository."""
    for base in (seen_from.parent, *(ROOT / b for b in BASES)):
        target = (base / reference).resolve()
        if target.is_relative_to(ROOT) and target.exists():
            return True
    # a bare file name ("layout.py") names the module of that name wherever it lives
    return "/" not in reference and reference in NAMES


def dangling(path: Path) -> list[str]:
    """The references in a file's prose that name no file of the repository."""
    lines = [
        line
        for line in prose(path).splitlines()
        if "Example:" not in line and not LISTING.match(line)
    ]
    return sorted(
        {ref for line in lines for ref in REFERENCE.findall(line) if not resolves(ref, path)}
    )


DOCUMENTED = [path for path in FILES if path.suffix in (".md", ".py")]


def test_the_scan_reads_the_documents_and_finds_references() -> None:
    assert ROOT / "README.md" in DOCUMENTED
    assert ROOT / "docs" / "architecture.md" in DOCUMENTED
    readme_refs = REFERENCE.findall(prose(ROOT / "README.md"))
    assert "docs/json.md" in readme_refs or "docs/architecture.md" in readme_refs


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("See ../shared/ARCHITECTURE.md and docs/architecture.md.\n", "utf-8")
    assert dangling(note) == ["../shared/ARCHITECTURE.md"]
    module = tmp_path / "mod.py"
    module.write_text('"""Per DOMAIN.md §5."""\n\nX = "cat.csv"  # see docs/nowhere.md\n')
    assert dangling(module) == ["DOMAIN.md", "docs/nowhere.md"]


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_names_a_file_of_the_repository(path: Path) -> None:
    assert dangling(path) == []
