"""What a test reads back from a rendered PDF: its words and the layout its metadata names."""

import io
import json

from pypdf import PdfReader


def words(data: bytes) -> str:
    """A PDF's text with every run of white space one space."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def layout_of(data: bytes) -> int:
    """The layout a document's metadata names (`v` in its Keywords)."""
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None
    return int(json.loads(str(info["/Keywords"]))["v"])
