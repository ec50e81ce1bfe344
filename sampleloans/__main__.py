"""`python -m sampleloans` runs the command line."""

from sampleloans.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it (verify's chain check)
    main()
