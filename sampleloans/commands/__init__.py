"""One module per noun of the command line; `cli.py` composes them."""
