"""Sweep s43 "a curator puts their mistakes right", on a secured PostgreSQL ledger: the
corrections `loans show` now lists (a note on a shipment, a consumption corrected to 0 µg) are
recorded by a curator's own login and read by the borrower's own login through row-level
security, as on SQLite; another institution's researcher still reads nothing of the loan. A
person (`people rename`) or institution (`institutions rename`) renamed by the curator's login
reads its new name with the researcher's own."""

import json

from tests.pg_secured import CURATOR, cli, own_login, secured_copy, secured_demo_template
from tests.pgcluster import PgServer

__all__ = ["secured_demo_template"]  # the module fixture, shared by name

BORROWER = "anand@open.example"  # OU, the PI of L-2025-OU
OTHER = "moynier@ipgp.example"  # IPGP
NOTE = "seal number was SL-OU-02, not SL-OU-01"


def test_the_borrower_reads_the_corrections_of_their_loan(
    pg_server: PgServer, secured_demo_template: str
) -> None:
    with secured_copy(pg_server, secured_demo_template, "s43corr") as url:
        curator = own_login(pg_server, url, CURATOR, "curator-pw")
        noted = cli(curator, "custody", "correct", "94", "--text", NOTE)
        assert noted.exit_code == 0, noted.stderr
        voided = cli(curator, "custody", "correct", "99", "--mass", "0mg", "--reason", "twice")
        assert voided.exit_code == 0, voided.stderr
        borrower = own_login(pg_server, url, BORROWER, "borrower-pw")
        shown = cli(borrower, "loans", "show", "L-2025-OU", "--json")
        assert shown.exit_code == 0, shown.stderr
        detail = json.loads(shown.stdout)
        assert [(c["corrects_seq"], c["description"]) for c in detail["corrections"]] == [
            (94, NOTE),
            (99, "consumption of CE5C0200YJFM00112 corrected: 500 µg → 0 µg; twice"),
        ]
        assert detail["held_ug"] == 60000
        other = own_login(pg_server, url, OTHER, "other-pw")
        refused = cli(other, "loans", "show", "L-2025-OU", "--json")
        assert refused.exit_code == 2 and NOTE not in refused.output  # as a missing loan
        renamed = cli(curator, "people", "rename", OTHER, "--name", "F. Moynier", "--reason", "x")
        assert renamed.exit_code == 0, renamed.stderr
        assert json.loads(cli(other, "people", "show", OTHER, "--json").stdout)["name"] == (
            "F. Moynier"
        )
        renamed = cli(
            curator, "institutions", "rename", "IPGP", "--name", "IPG Paris", "--reason", "x"
        )
        assert renamed.exit_code == 0, renamed.stderr
        assert json.loads(cli(other, "institutions", "show", "IPGP", "--json").stdout)["name"] == (
            "IPG Paris"
        )
        assert cli(curator, "verify").exit_code == 0
