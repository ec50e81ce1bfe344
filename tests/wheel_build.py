"""Build the package's wheel from this checkout, one build at a time across test processes."""

import fcntl
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(folder: Path) -> Path:
    """`pip wheel` of the checkout into `folder`; the wheel's path.

    setuptools builds in the source tree (its build/ and *.egg-info folders), so two test
    processes (pytest-xdist workers) building at once would trip over each other's files: a
    lock file named after the checkout lets one build at a time."""
    name = hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"sampleloans-wheel-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "-w", str(folder), str(ROOT)],
            capture_output=True, text=True, timeout=300, cwd=folder,
        )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return next(folder.glob("sampleloans-*.whl"))
