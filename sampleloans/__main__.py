"""`python -m sampleloans` runs the command line."""

from sampleloans.cli import main

main()
