"""The README's report images (`docs/report-*.png`), made from the deterministic demo.

    python -m tests.report_images            # rewrite docs/report-*.png and the manifest
    python -m tests.report_images --check    # exit 1 naming each image that is out of date

Each image is the first page of a report of the demo (`sampleloans demo --ledger-id
DEMO_LEDGER_ID`, read at DOCS_NOW, every report with `--generated-at DOCS_NOW`), rendered with
`pdftoppm -png -r 60`. The statement and the custody report naming a checkpoint need a signed
checkpoint: it is signed with a key derived from a fixed seed (a demo key, never a real one),
so they come out the same on every run too. `report-signed.png` is the custody report's page:
a `--sign`ed report's pages are its unsigned rendering, byte for byte (the signature is in the
reader's signature panel, not on the page).

`docs/report-images.sha256` records the sha256 of each PDF an image is made from and the
pdftoppm that rendered them: `tests/test_s17_layout_images.py` re-renders the PDFs on every run
(a page layout change shows there, without poppler), and the PNGs where the same pdftoppm is
installed.
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.ledger.checkpoint import SignerKey

DOCS = Path(__file__).resolve().parent.parent / "docs"
MANIFEST = "report-images.sha256"
DEMO_LEDGER_ID = "2dd1f8a0-8e98-4c13-a72f-ece8336b1e37"
DOCS_NOW = "2026-04-28T09:00:00Z"
KEY_NAME = "naoc.example/ledger"
KEY_SEED = hashlib.sha256(b"sampleloans README report images: a demo key").digest()
COMPLIANCE = "compliance@naoc.example"
CURATOR = "curator@naoc.example"


@dataclass(frozen=True)
class Image:
    """One README image: its file name, the report command, whether a checkpoint is kept."""

    name: str
    args: tuple[str, ...]
    after_checkpoint: bool = False


IMAGES = (
    Image("report-custody.png", ("report", "custody", "--loan", "L-2025-Osaka")),
    Image("report-return.png", ("report", "return", "--loan", "L-2025-IPGP")),
    Image("report-overdue.png", ("report", "overdue", "--institution", "Osaka")),
    Image("report-inventory.png", ("report", "inventory", "--loan", "L-2025-Osaka")),
    Image("report-signed.png", ("report", "custody", "--loan", "L-2025-Osaka")),
    Image(
        "report-custody-checkpoint.png",
        ("report", "custody", "--loan", "L-2025-Osaka"),
        after_checkpoint=True,
    ),
    Image(
        "report-statement.png",
        ("report", "statement", "--pi", "terada@osaka-u.example"),
        after_checkpoint=True,
    ),
)


def _cli(env: dict[str, str], *args: str) -> None:
    """Run a sampleloans command in `env`; stop with its output if it fails."""
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exit_code != 0:
        raise SystemExit(f"sampleloans {' '.join(args)}: {result.stdout}{result.stderr}")


def _write_demo_key(path: Path) -> None:
    """The fixed demo signing key and its public half, as `keys generate` writes them."""
    signer = SignerKey(KEY_NAME, Ed25519PrivateKey.from_private_bytes(KEY_SEED))
    path.write_text(signer.encode() + "\n", encoding="utf-8")
    path.chmod(0o600)
    path.with_name(path.name + ".pub").write_text(signer.verifier().encode() + "\n")


def _report(env: dict[str, str], image: Image, folder: Path) -> Path:
    """The PDF of one image's report, in `folder`."""
    common = ("--generated-at", DOCS_NOW)
    if image.args[1] == "statement":
        out = folder / image.name.removesuffix(".png")
        out.mkdir()
        _cli(env, "--as", COMPLIANCE, *image.args, *common, "--out", str(out))
        (pdf,) = out.glob("*.pdf")
        return pdf
    pdf = folder / image.name.replace(".png", ".pdf")
    _cli(env, "--as", COMPLIANCE, *image.args, *common, "--out", str(pdf))
    return pdf


def report_pdfs(work: Path) -> dict[str, Path]:
    """Each image's PDF, made from a new demo in `work`, by image name."""
    env = {
        "SAMPLELOANS_DB": str(work / "demo" / "ledger.db"),
        "SAMPLELOANS_NOW": DOCS_NOW,
        "SAMPLELOANS_USER": CURATOR,
        "NO_COLOR": "1",
    }
    _cli(env, "demo", "--dir", str(work / "demo"), "--ledger-id", DEMO_LEDGER_ID)
    pdfs = {i.name: _report(env, i, work) for i in IMAGES if not i.after_checkpoint}
    _write_demo_key(work / "naoc.key")
    _cli(env, "checkpoint", "--key", str(work / "naoc.key"))
    pdfs |= {i.name: _report(env, i, work) for i in IMAGES if i.after_checkpoint}
    return pdfs


def pdftoppm_version() -> str | None:
    """The installed pdftoppm's version line, or None when there is none."""
    if shutil.which("pdftoppm") is None:
        return None
    done = subprocess.run(["pdftoppm", "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).splitlines()[0].strip()


def first_page_png(pdf: Path, png: Path) -> None:
    """The first page of `pdf` as `png`, as the README shows it (`pdftoppm -png -r 60`)."""
    root = png.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(root)],
        check=True,
    )


def sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_lines(pdfs: dict[str, Path], pngs: dict[str, Path], version: str) -> list[str]:
    """The manifest: the pdftoppm used, then each image's PDF and PNG digests."""
    lines = [f"# pdftoppm: {version}", "# image pdf-sha256 png-sha256"]
    lines += [f"{name} {sha256(pdfs[name])} {sha256(pngs[name])}" for name in sorted(pdfs)]
    return lines


def read_manifest(docs: Path = DOCS) -> tuple[str, dict[str, tuple[str, str]]]:
    """The recorded pdftoppm version and, by image, its PDF and PNG digests."""
    lines = (docs / MANIFEST).read_text(encoding="utf-8").splitlines()
    version = lines[0].removeprefix("# pdftoppm: ")
    rows = [line.split() for line in lines if line and not line.startswith("#")]
    return version, {name: (pdf, png) for name, pdf, png in rows}


def render(work: Path) -> tuple[dict[str, Path], dict[str, Path], str]:
    """Each image's PDF and PNG, made in `work`, and the pdftoppm that rendered them."""
    version = pdftoppm_version()
    if version is None:
        raise SystemExit("pdftoppm not found: install poppler-utils")
    pdfs = report_pdfs(work)
    pngs = {name: work / name for name in pdfs}
    for name, pdf in pdfs.items():
        first_page_png(pdf, pngs[name])
    return pdfs, pngs, version


def main(argv: list[str] | None = None) -> int:
    """Rewrite the images and the manifest in --docs, or with --check name those out of date."""
    parser = argparse.ArgumentParser(prog="python -m tests.report_images", description=__doc__)
    parser.add_argument("--docs", type=Path, default=DOCS, help="where the images are")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        pdfs, pngs, version = render(Path(folder))
        if options.check:
            stale = [n for n in sorted(pngs) if sha256(pngs[n]) != sha256(options.docs / n)]
            for name in stale:
                print(f"out of date: {options.docs / name}", file=sys.stderr)
            return 1 if stale else 0
        for name, png in pngs.items():
            shutil.copyfile(png, options.docs / name)
        text = "\n".join(manifest_lines(pdfs, pngs, version)) + "\n"
        (options.docs / MANIFEST).write_text(text, encoding="utf-8")
    print(f"wrote {len(pngs)} images and {MANIFEST} in {options.docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
