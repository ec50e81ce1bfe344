"""sampleloans: the custody ledger for lunar samples lent to researchers."""

# The release: 0.2 since the schema revisions 0002-0013 (docs/migrations.md "Revisions" names
# the release of each; a test keeps the two in step). pyproject.toml reads it from here.
__version__ = "0.2.0"
