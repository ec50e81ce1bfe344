"""placeholder"""


def main() -> None:
    """Run."""
