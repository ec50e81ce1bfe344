"""Top-level maintenance commands: backup and restore of the ledger database."""
