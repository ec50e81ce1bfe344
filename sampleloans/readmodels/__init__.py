"""Read models: the frozen dataclasses the read side hands to `reports/` and the commands.

No SQL and no SQLAlchemy here (tests/test_architecture.py checks what importing them loads):
services build these objects from the ledger; reports and commands only read them.
"""
