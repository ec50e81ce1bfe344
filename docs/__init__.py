"""The documents shipped inside the package as `sampleloans.docs` (export --bag copies
docs/ledger-format.md into every bag)."""
