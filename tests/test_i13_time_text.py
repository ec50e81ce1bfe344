"""Issue 13: stored times are written through a cached bind processor (`UTCDateTime`): the
same instant always gives the same text, whatever its zone, and a naive time is still refused."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from sampleloans.models import UTCDateTime


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_equal_instants_in_any_zone_are_stored_as_the_same_text(dialect: object) -> None:
    process = UTCDateTime().bind_processor(dialect)
    assert process is not None
    moment = datetime(2025, 4, 24, 10, 0, tzinfo=UTC)
    tokyo = moment.astimezone(timezone(timedelta(hours=9)))
    assert process(moment) == "2025-04-24T10:00:00Z"
    assert process(tokyo) == "2025-04-24T10:00:00Z"  # a hit for the UTC one's text: same instant
    assert process(moment + timedelta(microseconds=5)) == "2025-04-24T10:00:00.000005Z"
    assert process(None) is None


def test_a_naive_time_is_refused_every_time() -> None:
    process = UTCDateTime().bind_processor(sqlite.dialect())
    naive = datetime(2025, 4, 24, 10, 0)
    for _ in range(2):  # a refusal is never remembered as an answer
        with pytest.raises(ValueError, match="naive datetime"):
            process(naive)
