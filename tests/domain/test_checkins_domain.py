from __future__ import annotations

from datetime import date

from peerbot.domain.checkins import MAX_COMMITMENT, validate_commitment

TODAY = date(2026, 11, 23)


def test_a_real_commitment_is_valid() -> None:
    assert validate_commitment("Talk to Sam on Friday", date(2026, 11, 27), today=TODAY) == {}
    assert validate_commitment("Talk to Sam", None, today=TODAY) == {}
    assert validate_commitment("Talk to Sam", TODAY, today=TODAY) == {}


def test_field_errors() -> None:
    assert set(validate_commitment("Sam", None, today=TODAY)) == {"text"}
    assert set(validate_commitment("word " * MAX_COMMITMENT, None, today=TODAY)) == {"text"}
    assert set(validate_commitment("Talk to Sam", date(2026, 11, 22), today=TODAY)) == {"due"}
