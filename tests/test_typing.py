"""The repository type-checks: `python -m mypy` (settings in pyproject.toml) reports 0 errors
in the package, the tests and the benchmarks.

The goal is exactly zero: a new error fails this test, however small. A `# type: ignore` must
name its error code and say why on the same line (`# type: ignore[code]  # why`), so that each
exception to the checker is a decision someone can read.
"""

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("sampleloans", "tests", "bench")
"""What `python -m mypy` checks (`files` in [tool.mypy]): every Python folder of the repository."""
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$")
WITH_REASON = re.compile(r"^\[[\w-]+(?:,\s*[\w-]+)*\]\s+#\s*\S.{3,}")


@pytest.mark.zero_mypy_errors
def test_mypy_reports_zero_errors() -> None:
    pytest.importorskip("mypy", reason="mypy is in the `test` extra: pip install -e '.[test]'")
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],  # files and strictness: [tool.mypy] in pyproject.toml
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert errors == [], f"{len(errors)} mypy error(s); the goal is 0:\n" + "\n".join(errors)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_configured_to_check_function_bodies() -> None:
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = config.split("[tool.mypy]", 1)[1].split("\n[", 1)[0]
    assert 'files = ["sampleloans", "tests", "bench"]' in section  # CHECKED, every folder
    assert "check_untyped_defs = true" in section
    assert "warn_unused_ignores = true" in section


def ignores_without_reason(source: str) -> list[str]:
    """The `# type: ignore` comments of a source that lack an error code or a reason (comments
    only: a string that mentions one is not an exception to the checker)."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = IGNORE.search(token.string)
        if match and not WITH_REASON.match(match.group("rest").strip()):
            found.append(token.line.strip())
    return found


def test_the_reason_rule_tells_a_bare_ignore_from_an_explained_one() -> None:
    assert ignores_without_reason("x = f()  # type: ignore") == ["x = f()  # type: ignore"]
    assert ignores_without_reason("x = f()  # type: ignore[arg-type]") != []
    assert ignores_without_reason("x = f()  # type: ignore[arg-type]  # the stub says int") == []
    assert ignores_without_reason('x = "# type: ignore"\n') == []  # in a string, not a comment


@pytest.mark.parametrize(
    "path",
    sorted(path for folder in CHECKED for path in (ROOT / folder).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_type_ignore_names_its_code_and_reason(path: Path) -> None:
    assert ignores_without_reason(path.read_text(encoding="utf-8")) == []
