"""`python -m sampleloans` and the `sampleloans` console script run the command line."""

from sampleloans.interrupts import run_reporting_interrupts, watch_for_ctrl_c


def main() -> None:
    """Watch for Ctrl-C first, then load and run the command line (its imports take a while,
    and an interrupt among them is reported like any other)."""
    watch_for_ctrl_c()
    run_reporting_interrupts(_load_and_run)


def _load_and_run() -> None:
    """Import the command line (inside the guard) and run it."""
    from sampleloans.cli import main as cli_main

    cli_main()


if __name__ == "__main__":  # not when a spawned worker process imports it (verify's chain check)
    main()
