"""sampleloans: the custody ledger for lunar samples lent to researchers."""

__version__ = "0.1.0"
