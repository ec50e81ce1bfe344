"""PDF custody, return, overdue and inventory reports: read-model dataclasses in, PDF bytes out.

reportlab is imported only here (and only by the report commands); nothing here opens a
session. `render(report)` picks the builder for the report's kind.
"""

from typing import Any


def render(report: Any) -> bytes:
    """The PDF bytes of a report read model (readmodels.report.Report)."""
    from sampleloans.reports import common, custody, inventory, overdue, returns

    builders = {
        "custody": custody.story,
        "return": returns.story,
        "overdue": overdue.story,
        "inventory": inventory.story,
    }
    return common.render(report, builders[report.request.kind])
