"""Top-level read commands for compliance officers and researchers: balance, overdue, status."""
