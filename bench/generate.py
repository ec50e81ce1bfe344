"""Build a synthetic collection through the project's own bulk path (services/bulk.py).

A catalogue CSV of samples and a history JSON Lines file are written, then imported with
`import_records` exactly as `sampleloans import` does: every record validated by the same
service as its single command, one transaction per file, written in batches (see
services/bulk.py).
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

CURATOR = "curator@naoc.example"
NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
START = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
"""The first synthetic event: after CE-6 returned (25 Jun 2024), so every sample may exist then,
and not before the test ledgers' own events (recorded at 2025-04-01 09:00)."""


@dataclass(frozen=True)
class Scale:
    """Sizes of a synthetic collection."""

    samples: int
    institutions: int
    loans: int
    events: int
    report_events: int  # consumptions on loan 0, the custody report's loan
    runs: int  # cold-process repetitions (median); 1 at tiny, the smoke test's: each row's
    # code path runs once there, and every cold process costs its ~1.3 s of CPU again
    large_report_events: int = 0  # consumptions on loan 1, the large custody report's loan
    # the ledger the per-event import and verify figures compare with (issue 13's 10k); the
    # tiny smoke run's bench ledger is smaller than that, so it compares with 1k
    base_events: int = 10_000


SCALES = {
    "full": Scale(150_000, 400, 20_000, 1_000_000, 10_000, 5, 100_000),
    "small": Scale(7_500, 20, 1_000, 50_000, 10_000, 5),
    "tiny": Scale(300, 4, 12, 1_200, 200, 1, base_events=1_000),
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_catalogue(path: Path, scale: Scale) -> int:
    """samples.csv-format rows (data/README.md), research material: 1 g for the first two
    (the report loans' samples, consumed most) and 5 mg for the rest, so that the samples of
    each mission stay within what it returned (150,000 samples: 500 g of CE-5's 1,731 g)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "code",
                "mission",
                "origin",
                "depth_top_cm",
                "depth_bottom_cm",
                "material_type",
                "physical_form",
                "purpose_class",
                "mass",
                "mass_source",
                "storage_location",
                "condition",
                "record",
                "source",
            ]
        )
        for i in range(scale.samples):
            drill = i % 5 == 0
            writer.writerow(
                [f"SYN{i:07d}", "CE-5" if i % 3 else "CE-6", "drill" if drill else "scoop"]
                + (["10", "12"] if drill else ["", ""])
                + ["regolith", "powder", "research", "1 g" if i < 2 else "5 mg", "illustrative"]
                + [f"vault {i % 50}", "pristine", "illustrative", "bench"]
            )
    return scale.samples


def _history(scale: Scale) -> Iterator[dict[str, object]]:
    """Institutions, PIs, agreements, loans through receipt, then consumptions."""
    clock = [START]

    def rec(kind: str, payload: dict[str, object]) -> dict[str, object]:
        clock[0] += timedelta(seconds=1)
        return {
            "kind": kind,
            "occurred_at": _iso(clock[0]),
            "actor": CURATOR,
            "payload": payload,
            "reason": None,
            "corrects_seq": None,
        }

    for n in range(scale.institutions):
        short = f"INST{n:03d}"
        yield rec(
            "institution.added",
            {
                "short_name": short,
                "name": f"Institute {n}",
                "country": "Nowhere",
                "city": "City",
                "institution_kind": "borrower",
            },
        )
        yield rec(
            "person.added",
            {
                "email": f"pi{n}@inst{n}.example",
                "name": f"PI {n}",
                "institution": short,
                "role": "researcher",
            },
        )
        yield rec(
            "agreement.created",
            {
                "number": f"AG-{short}",
                "institution": short,
                "term": "P10Y",
                "max_total_mass_ug": 10**10,  # 10 kg, the largest an agreement accepts
                "allowed_purposes": ["research"],
                "max_loan_period": "P2Y",
                "destructive_use_allowed": True,
            },
        )
        yield rec("agreement.signed", {"number": f"AG-{short}", "signed_by": "bench"})
    loans = [f"L-{k:06d}" for k in range(scale.loans)]
    for k, number in enumerate(loans):
        n = k % scale.institutions
        sample = f"SYN{k:07d}"
        yield rec(
            "loan.requested",
            {
                "number": number,
                "agreement": f"AG-INST{n:03d}",
                "pi": f"pi{n}@inst{n}.example",
                "samples": [sample],
            },
        )
        yield rec("loan.approved", {"number": number})
        yield rec("loan.issued", {"number": number})
        yield rec("loan.shipped", {"number": number, "container": "N2 box", "seal_number": f"S{k}"})
        yield rec("loan.received", {"number": number, "seal_intact": True, "condition": "pristine"})
    fixed = scale.samples + 4 * scale.institutions + 5 * scale.loans
    for j in range(max(0, scale.events - fixed)):
        # the first consumptions go to loan 0 (the custody report's loan), the next ones to
        # loan 1 (the large report's), the rest round the loans
        if j < scale.report_events:
            k = 0
        elif j < scale.report_events + scale.large_report_events:
            k = 1
        else:
            k = j % scale.loans
        yield rec(
            "loan.consumed",
            {
                "number": loans[k],
                "sample": f"SYN{k:07d}",
                "technique": f"spot {j}",
                "mass_ug": 1,
                "destructive": True,
            },
        )


def write_history(path: Path, scale: Scale) -> int:
    """The history as JSON Lines; returns the number of records."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in _history(scale):
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    return count


def build(db_path: Path, scale: Scale, work: Path) -> dict[str, float]:
    """Create a ledger and import the catalogue and the history; timings and counts."""
    import time

    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.services import setup
    from sampleloans.services.bulk import import_records

    catalogue, history = work / "catalogue.csv", work / "history.jsonl"
    write_catalogue(catalogue, scale)
    write_history(history, scale)
    engine = db.open_engine(db.url_for_path(db_path), create=True)
    early = Context(CURATOR, "bench", START - timedelta(days=1))  # the catalogue predates loans
    with db.transaction(engine) as session:
        setup.init_ledger(session, early, curator_name="Bench Curator")
    events = 0
    start = time.perf_counter()
    for path, fmt, ctx in (
        (catalogue, "csv", early),
        (history, "jsonl", Context(CURATOR, "bench", NOW)),
    ):
        with db.transaction(engine) as session, path.open(encoding="utf-8", newline="") as lines:
            events += import_records(session, ctx, lines, fmt=fmt, source=path.name).events
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"events": events, "seconds": seconds}
