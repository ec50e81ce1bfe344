"""The one rule a typed key is read by (`text.trim_key`): the blanks around it go, what is
inside or a control at its end stays (to be refused or not found where it is read)."""

import pytest

from sampleloans.text import trim_key


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        (" OU", "OU"),
        ("OU ", "OU"),
        ("\tL-2025-OU\r\n", "L-2025-OU"),
        ("\u00a0OU\u3000", "OU"),  # a no-break and an ideographic space, pasted
        ("O U", "O U"),
        (" NAOC cabinet A ", "NAOC cabinet A"),
        ("OU\u2028", "OU\u2028"),  # a line separator: refused where text is read, not dropped
        ("\x0bOU", "\x0bOU"),  # a control character likewise
        ("   ", ""),
        ("", ""),
    ],
)
def test_only_the_blanks_around_a_key_are_trimmed(typed: str, read: str) -> None:
    """Spaces, tabs, line ends and space separators at the ends; nothing else."""
    assert trim_key(typed) == read
