"""`python -m sampleloans` and the `sampleloans` console script run the command line."""

from sampleloans.interrupts import run_reporting_interrupts, watch_for_ctrl_c


def main() -> None:
    """Watch for Ctrl-C first, then load and run the command line, all inside the guard: its
    imports take a while, and an interrupt among them (or while the watch itself is set up) is
    reported like any other."""
    run_reporting_interrupts(_watch_load_and_run)


def _watch_load_and_run() -> None:
    """Watch for Ctrl-C, import the command line and run it."""
    watch_for_ctrl_c()
    from sampleloans.cli import main as cli_main

    cli_main()


if __name__ == "__main__":  # not when a spawned worker process imports it (verify's chain check)
    main()
