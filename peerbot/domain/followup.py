"""Follow-through after the introduction, pure: when "did you meet?" and due-date reminders go
out, when a helper is paused for unanswered offers, and what an asker may be told about why a
peer was chosen. Time is passed in."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from peerbot.domain.schedule import add_weekdays, at_local, next_working_slot, zone

#: "Did you meet?" goes out this many working days after the introduction.
MEET_CHECK_WORKING_DAYS = 3
#: "Not yet": asked again this many days later.
MEET_AGAIN_DAYS = 3
#: The time of day (the person's own) a "did you meet?" and a due-date reminder go out.
MORNING = time(9, 30)
#: Offers that lapse unanswered in a row before a helper is paused (the "ghost" rule, kinder).
GHOST_AFTER = 3
#: Ratings (1–5) at or below this offer the asker another peer.
LOW_RATING = 2
#: How long a helper paused by the ghost rule stays paused unless they resume first.
GHOST_PAUSE = timedelta(days=30)


def meet_check_at(intro_at: datetime, tz: str | None) -> datetime:
    """When "did you meet?" goes to someone: the morning (:data:`MORNING`, their time zone)
    three working days after the day of the introduction (Monday → Thursday, Friday →
    Wednesday)."""
    tzinfo = zone(tz)
    day = add_weekdays(intro_at.astimezone(tzinfo).date(), MEET_CHECK_WORKING_DAYS)
    return at_local(day, MORNING, tzinfo)


def meet_again_at(now: datetime, tz: str | None) -> datetime:
    """ "Not yet, remind me in 3 days": the first morning slot on a weekday 3 days on."""
    return next_working_slot(now + timedelta(days=MEET_AGAIN_DAYS), zone(tz), MORNING)


def commitment_reminder_at(due: date, now: datetime, tz: str | None) -> datetime | None:
    """The morning of ``due`` (:data:`MORNING`, the asker's time zone), or the Friday before
    when it falls on a weekend; None when that morning has already passed (a commitment made
    on the day it is due needs no reminder)."""
    tzinfo = zone(tz)
    day = due
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    morning = at_local(day, MORNING, tzinfo)
    if morning > now:
        return morning
    return None


def is_low_rating(rating: int | None) -> bool:
    """A rating that offers the asker another peer."""
    return rating is not None and 1 <= rating <= LOW_RATING


#: Ranker phrases an asker may read about the peer chosen for them: the shared experience.
#: Everything else (capacity, answer times, acceptance, ratings, fairness, time zone) is the
#: helper's own business and never reaches the asker.
_SHARED_EXPERIENCE = (
    "has helped on ",
    "closest past help",
    "expertise mentions ",
    "stated expertise is close to this ask",
    "past asks mention ",
    "has helped ",
    "helped someone ",
)


def why_for_asker(explanation: str) -> str:
    """The part of a ranker explanation an asker may read, in plain words ("" when none).

    Keeps only the phrases about shared experience (:data:`_SHARED_EXPERIENCE`), never a quote
    of another person's past question (cut at ", e.g."), never the helper's settings."""
    kept: list[str] = []
    for phrase in explanation.split(";"):
        p = phrase.strip()
        low = p.lower()
        if not any(low.startswith(prefix) for prefix in _SHARED_EXPERIENCE):
            continue
        p = p.split(", e.g.")[0]
        if low.startswith("closest past help"):
            p = "has helped with something close to this"
        elif low.startswith("past asks mention"):
            p = "has helped with asks that mention " + p[len("past asks mention ") :]
        kept.append(p[0].lower() + p[1:])
    if not kept:
        return ""
    text = "; ".join(dict.fromkeys(kept))
    return text[0].upper() + text[1:]
