"""The README's report images cannot fall behind the page layout unnoticed.

`python -m tests.report_images` makes them from the deterministic demo and records, in
`docs/report-images.sha256`, the sha256 of each PDF an image shows and of the PNG. Here the PDFs
are made again (no poppler needed): a change to any report's page changes a digest, and this
fails until the images are regenerated. Where the recorded pdftoppm is installed, the PNGs are
rendered again and compared byte for byte too.
"""

import re
from pathlib import Path

import pytest

from tests import report_images
from tests.report_images import DOCS, IMAGES, MANIFEST, read_manifest, sha256

README = DOCS.parent / "README.md"
STALE = "docs/report-*.png are out of date: run `python -m tests.report_images`"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each image's PDF, made again from a new demo."""
    return report_images.report_pdfs(tmp_path_factory.mktemp("images"))


def test_every_image_is_in_the_manifest_and_shown_by_the_readme() -> None:
    """The images on disk, the manifest and the script's list name the same files, and the
    README links each one."""
    _version, recorded = read_manifest()
    on_disk = {path.name for path in DOCS.glob("report-*.png")}
    assert on_disk == set(recorded) == {image.name for image in IMAGES}
    linked = set(re.findall(r"docs/(report-[a-z-]+\.png)", README.read_text(encoding="utf-8")))
    assert linked == on_disk


def test_the_reports_the_images_show_are_unchanged(made: dict[str, Path]) -> None:
    """Each PDF made again is byte-identical to the one the image was rendered from: a page
    layout change fails here until the images are regenerated."""
    _version, recorded = read_manifest()
    changed = [name for name, pdf in sorted(made.items()) if sha256(pdf) != recorded[name][0]]
    assert changed == [], STALE


def test_the_images_are_the_pages_rendered_again(made: dict[str, Path], tmp_path: Path) -> None:
    """With the recorded pdftoppm, each PNG rendered again equals the file in docs/."""
    version, recorded = read_manifest()
    installed = report_images.pdftoppm_version()
    if installed != version:
        pytest.skip(f"PNG bytes need {version!r} (installed: {installed!r}); PDFs checked above")
    for name, pdf in sorted(made.items()):
        png = tmp_path / name
        report_images.first_page_png(pdf, png)
        assert sha256(png) == recorded[name][1] == sha256(DOCS / name), f"{name}: {STALE}"


def test_the_manifest_names_where_it_comes_from() -> None:
    """The manifest says which pdftoppm rendered the images (the PNG check depends on it)."""
    first = (DOCS / MANIFEST).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# pdftoppm: pdftoppm version ")
