"""What a report file says about itself, read back from its bytes without the ledger: the
metadata every `report` command writes into the PDF (its Keywords, JSON)."""

import io
import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sampleloans.errors import InvalidInput
from sampleloans.fileio import read_input_bytes

METADATA_MAX_CHARS = 4096  # a report's Keywords JSON is a few hundred characters
PDF_HEADER = b"%PDF-"
"""The first bytes of every report (reportlab writes them; signing appends after them)."""


@contextmanager
def libraries_quiet(*names: str) -> Iterator[None]:
    """Keep the named libraries' log lines and warnings off the terminal: a file they cannot
    read gets our one `Error:` line, not their diagnostics first."""
    loggers = [logging.getLogger(name) for name in names]  # their modules' loggers inherit
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def read_document(path: Path, name: str = "FILE") -> tuple[bytes, dict[str, Any]]:
    """A report file's bytes and the metadata it carries; errors name the file as `name`."""
    data = read_input_bytes(path, name)
    return data, document_metadata(data, f"{name}: {path} is not a sampleloans report")


def document_metadata(data: bytes, not_a_report: str) -> dict[str, Any]:
    """The metadata of a report's bytes (of what was signed, for a signed one); InvalidInput
    starting with `not_a_report` for anything else."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(PDF_HEADER):  # pypdf would search all of it for one: 40 s, 300 MB
        raise InvalidInput(f"{not_a_report} (not a readable PDF)")
    signed = data
    if b"/ByteRange" in data:  # a signed report: its claim is what the signer signed
        from sampleloans.reports.signing import signed_extent

        signed = data[: signed_extent(data) or len(data)]
    try:
        with libraries_quiet("pypdf"):
            info: Mapping[str, Any] = PdfReader(io.BytesIO(signed)).metadata or {}
            keywords = str(info.get("/Keywords", ""))
    except (PyPdfError, ValueError, OSError, RecursionError):
        raise InvalidInput(f"{not_a_report} (not a readable PDF)") from None
    if len(keywords) > METADATA_MAX_CHARS:
        raise InvalidInput(f"{not_a_report} (its metadata is far longer than a report's)")
    try:
        meta = json.loads(keywords)
    except ValueError:
        raise InvalidInput(f"{not_a_report} (no report metadata)") from None
    except RecursionError:  # JSON nested deeper than Python's stack
        raise InvalidInput(f"{not_a_report} (its metadata is nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("app") != "sampleloans":
        raise InvalidInput(f"{not_a_report} (no report metadata)")
    return meta
