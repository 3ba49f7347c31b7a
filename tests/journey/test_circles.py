"""Peer circles through the emulator, on both databases: 17 people join with `/peerhelp
circle`, a round forms (5/6/6, nobody alone, no reporting line inside a circle, group DMs of at
most 8), weekly prompts inside everyone's working hours in three time zones with a rotating
presenter, an action recorded and listed the next week, a member leaves, the pulse and the
close-out; the next round repeats no pair. The real embedding model groups the texts."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.domain.schedule import is_working_time, zone
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Circle,
    CircleAction,
    CircleFeedback,
    CircleFeedbackKind,
    CircleMember,
    CirclePoolEntry,
    CirclePrompt,
    CircleStatus,
    Person,
)
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_ask_accept import text_of

ZONES = ("Europe/London", "Europe/Berlin", "America/New_York")  # 14:00–16:00 UTC in common
TOPICS = {
    "delegation": [
        "Delegating to my senior reports without losing track of quality",
        "I struggle to delegate work to senior engineers and end up doing it myself",
        "Learning to delegate ownership of projects to my tech leads",
        "How to stop micromanaging and delegate decisions to my team leads",
        "Delegating more of my work to experienced reports so I can focus on strategy",
        "Getting better at delegation when my senior people know more than I do",
    ],
    "feedback": [
        "Giving hard feedback to an underperforming team member",
        "Having difficult performance conversations without damaging trust",
        "Telling a long-tenured report that their work is not good enough",
        "Giving critical feedback to a peer manager about their behaviour in meetings",
        "Handling a performance improvement plan conversation with an underperformer",
        "How to give honest negative feedback to someone who gets defensive",
    ],
    "hiring": [
        "Hiring senior engineers in a tight market and closing offers",
        "Running better interviews and reducing bias in our hiring loop",
        "Building a hiring pipeline for my first team as a new manager",
        "Deciding between two strong candidates for a lead role",
        "Improving our interview process so that we stop losing candidates",
    ],
}


def join(h: Harness, user: str, text: str, function: str) -> Any:
    r = h.driver.slash_command("/peerhelp", user, "circle")
    assert r.status == 200, r
    h.settle()
    modal = h.emulator.top_modal(user)
    assert modal is not None and modal["callback_id"] == "circle_join"
    r = h.driver.view_submission(
        user,
        modal["id"],
        {("circle_text", "value"): text, ("circle_function", "value"): function},
    )
    h.settle()
    return r


def people(h: Harness) -> dict[str, tuple[str, str, str]]:
    """17 people (user id → (topic, tz, text)), spread over three zones."""
    out: dict[str, tuple[str, str, str]] = {}
    n = 0
    for topic, texts in TOPICS.items():
        for text in texts:
            tz = ZONES[n % 3]
            uid = h.add_user(f"m{n:02d}", tz=tz)
            out[uid] = (topic, tz, text)
            n += 1
    return out


def circles_now(h: Harness) -> list[tuple[Circle, list[str]]]:
    with unit_of_work(h.container.sessions) as s:
        rows = []
        for c in s.scalars(select(Circle).order_by(Circle.id)):
            members = s.scalars(
                select(Person.slack_user_id)
                .join(CircleMember, CircleMember.person_id == Person.id)
                .where(CircleMember.circle_id == c.id, CircleMember.left_at.is_(None))
                .order_by(CircleMember.position)
            ).all()
            s.expunge(c)
            rows.append((c, list(members)))
        return rows


def to_next_prompt(h: Harness, circle_id: int) -> None:
    with unit_of_work(h.container.sessions) as s:
        circle = s.get(Circle, circle_id)
        assert circle is not None and circle.next_prompt_at is not None
        due = circle.next_prompt_at
    h.advance(due - h.clock.now())


def test_a_round_of_circles_from_joining_to_the_next_round(harness: Harness) -> None:
    h = harness
    who = people(h)
    users = list(who)
    boss, report = users[0], users[1]  # same topic: similarity alone would put them together
    for n, uid in enumerate(users):
        join(h, uid, who[uid][2], ("Engineering", "Sales", "Finance")[n % 3])
    with unit_of_work(h.container.sessions) as s:
        s.scalars(
            select(Person).where(Person.slack_user_id == report)
        ).one().manager_slack_user_id = boss
        assert len(s.scalars(select(CirclePoolEntry)).all()) == 17

    # Someone can see their place and leave the pool (and join again).
    r = h.driver.slash_command("/peerhelp", users[5], "circle")
    assert "number 6 of 17 waiting" in r.body["text"]

    report_ = h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    assert sorted(report_.sizes) == [5, 6, 6]
    assert report_.unplaced == {}
    formed = circles_now(h)
    assert sorted(len(m) for _, m in formed) == [5, 6, 6]
    assert sorted(u for _, m in formed for u in m) == sorted(users)
    for circle, members in formed:
        assert not ({boss, report} <= set(members))
        # Mostly one topic per circle (the embeddings), and a mix of functions.
        topics = [who[u][0] for u in members]
        assert max(topics.count(t) for t in set(topics)) >= len(members) - 2, topics
        group = h.group_messages(*members)
        assert len(group) == 1, "one opening message in the circle's group DM"
        opening = text_of(group[0])
        assert "all working on:" in opening and circle.theme in opening
        for u in members:
            assert f"<@{u}>" in opening
        assert "open questions" in opening
    opens = [
        c for c in h.emulator.calls_to("conversations.open") if "," in str(c.args.get("users"))
    ]
    assert opens and all(len(str(c.args["users"]).split(",")) <= 8 for c in opens)
    assert h.emulator.calls_to("conversations.create") == []

    # Week 1: the prompt arrives inside every member's working hours, naming position 0.
    circle, members = max(formed, key=lambda cm: len({who[u][1] for u in cm[1]}))
    assert len({who[u][1] for u in members}) == 3, "a circle spans the three zones"
    to_next_prompt(h, circle.id)
    with unit_of_work(h.container.sessions) as s:
        p1 = s.scalars(select(CirclePrompt).where(CirclePrompt.circle_id == circle.id)).one()
        sent = p1.sent_at
    for u in members:
        assert is_working_time(sent, zone(who[u][1])), (u, who[u][1], sent)
    prompt = h.group_messages(*members)[-1]
    assert "Week 1" in text_of(prompt)
    assert f"<@{members[0]}> presents" in text_of(prompt)

    # A member records an action; the circle sees it.
    doer = members[2]
    h.click(doer, prompt, "circle_action_open")
    modal = h.emulator.top_modal(doer)
    assert modal is not None and modal["callback_id"] == "circle_action"
    h.driver.view_submission(
        doer, modal["id"], {("circle_action_text", "value"): "Hand the <!channel> roadmap to Ana"}
    )
    h.settle()
    added = text_of(h.group_messages(*members)[-1])
    assert f"<@{doer}> commits to: Hand the &lt;!channel&gt; roadmap to Ana" in added
    # Someone outside the circle cannot record an action on its prompt.
    outsider = next(u for u in users if u not in members)
    h.click(outsider, prompt, "circle_action_open")
    modal = h.emulator.top_modal(outsider)
    assert modal is not None
    r = h.driver.view_submission(outsider, modal["id"], {("circle_action_text", "value"): "x y z"})
    assert r.body["response_action"] == "errors"
    with unit_of_work(h.container.sessions) as s:
        assert len(s.scalars(select(CircleAction)).all()) == 1

    # Week 2: the next presenter, and last week's action listed for follow-up.
    to_next_prompt(h, circle.id)
    prompt2 = h.group_messages(*members)[-1]
    assert "Week 2" in text_of(prompt2)
    assert f"<@{members[1]}> presents" in text_of(prompt2)
    assert "Hand the &lt;!channel&gt; roadmap to Ana" in text_of(prompt2)

    # A member leaves: the others (in their new, smaller group DM) hear only that.
    leaver = members[3]
    h.click(leaver, h.group_messages(*members)[0], "circle_leave")
    rest = [u for u in members if u != leaver]
    smaller = h.group_messages(*rest)
    assert len(smaller) == 1 and f"now {len(rest)}" in text_of(smaller[0])
    assert f"<@{leaver}>" not in text_of(smaller[0])

    # The pulse at the midpoint, in private; one answers.
    h.advance(timedelta(days=21) - (h.clock.now() - circle.starts_at))
    h.advance(timedelta(days=1))  # each DM waits for its reader's working hours
    pulse = next(m for m in h.dms(rest[0]) if "Halfway through" in text_of(m))
    assert not any("Halfway through" in text_of(m) for m in h.dms(leaver))
    h.click(rest[0], pulse, "circle_feedback_open")
    modal = h.emulator.top_modal(rest[0])
    assert modal is not None and modal["callback_id"] == "circle_feedback"
    h.driver.view_submission(
        rest[0],
        modal["id"],
        {("circle_rating", "value"): "4", ("circle_note", "value"): "Diaries clash on Thursdays"},
    )
    h.settle()
    assert "is saved" in text_of(next(m for m in h.dms(rest[0]) if m["ts"] == pulse["ts"]))

    # The close-out at the end, with the offer of the next round.
    h.advance(timedelta(weeks=3, hours=1))
    h.advance(timedelta(days=1))
    closeout = next(m for m in h.dms(rest[1]) if "reached its end" in text_of(m))
    assert "Join the next round" in text_of(closeout) or any(
        el.get("action_id") == "circle_join_open"
        for b in closeout["blocks"]
        for el in b.get("elements", [])
    )
    h.click(rest[1], closeout, "circle_feedback_open")
    modal = h.emulator.top_modal(rest[1])
    assert modal is not None
    h.driver.view_submission(rest[1], modal["id"], {("circle_rating", "value"): "5"})
    h.settle()
    with unit_of_work(h.container.sessions) as s:
        kinds = sorted((f.kind, f.rating, f.note) for f in s.scalars(select(CircleFeedback)))
        assert kinds == [
            (CircleFeedbackKind.CLOSEOUT, 5, None),
            (CircleFeedbackKind.PULSE, 4, "Diaries clash on Thursdays"),
        ]
        assert {c.status for c in s.scalars(select(Circle))} == {CircleStatus.CLOSED}

    # The next round: eight of them join again with ten newcomers; no pair from the last
    # round meets again (with only the 17, no circle of 4 could avoid a repeat).
    before = {frozenset(p) for _, m in formed for p in itertools.combinations(m, 2)}
    again_users = [u for _, m in formed for u in m[:3]][:8]
    newcomers = {}
    for n in range(10):
        topic = list(TOPICS)[n % 3]
        uid = h.add_user(f"new{n}", tz=ZONES[n % 3])
        newcomers[uid] = TOPICS[topic][n % 5]
    for n, uid in enumerate(again_users):
        join(h, uid, who[uid][2], ("Engineering", "Sales", "Finance")[n % 3])
    for uid, text in newcomers.items():
        join(h, uid, text, "Product")
    again = h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    assert sorted(again.sizes) == [6, 6, 6] and again.unplaced == {}
    second = [m for c, m in circles_now(h) if c.round_id == again.round_id]
    assert sorted(u for m in second for u in m) == sorted([*again_users, *newcomers])
    for members in second:
        for pair in itertools.combinations(members, 2):
            assert frozenset(pair) not in before, pair


def test_a_circle_below_three_closes_kindly(harness: Harness) -> None:
    h = harness
    users = [h.add_user(f"s{i}", tz="Europe/London") for i in range(4)]
    for uid in users:
        join(h, uid, "Running effective one-to-ones with my reports", "Engineering")
    report = h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    assert report.sizes == [4]
    opening = h.group_messages(*users)[0]
    h.click(users[0], opening, "circle_leave")
    assert "now 3" in text_of(h.group_messages(*users[1:])[0])
    h.click(users[1], opening, "circle_leave")
    for u in users[2:]:
        closed = text_of(h.dms(u)[-1])
        assert "too small" in closed and "next round" in closed
    for u in users[:2]:
        assert not any("too small" in text_of(m) for m in h.dms(u))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Circle)).one().status == CircleStatus.CLOSED
    # Below four waiting, no round forms.
    assert h.container.circles.form_round(h.team).skipped  # type: ignore[union-attr]


def test_a_circle_of_ten_meets_in_a_private_channel(
    engine: Engine, db_url: str, real_embedder: Embedder
) -> None:
    for h in make_harness(engine, db_url, real_embedder, circle_target_size=10):
        users = [h.add_user(f"t{i}", tz="Europe/Berlin") for i in range(10)]
        for uid in users:
            join(h, uid, "Leading a team through a reorganisation and layoffs", "Operations")
        report = h.container.circles.form_round(h.team)  # type: ignore[union-attr]
        h.settle()
        assert report.sizes == [10]
        (create,) = h.emulator.calls_to("conversations.create")
        assert create.args["is_private"] in (True, "true", "1")
        (invite,) = h.emulator.calls_to("conversations.invite")
        assert sorted(str(invite.args["users"]).split(",")) == sorted(users)
        channel = next(iter(c for c, _ in circles_now(h))).channel_id
        assert channel is not None
        posted = h.emulator.messages(channel)
        assert len(posted) == 1 and "Welcome to your peer circle" in text_of(posted[0])
        assert h.group_messages(*users) == []
        # The weekly prompt goes to the same channel.
        ((circle, _members),) = circles_now(h)
        to_next_prompt(h, circle.id)
        assert "Week 1" in text_of(h.emulator.messages(channel)[-1])
        # Someone leaves: out of the channel, and the others read only that it is smaller.
        h.click(users[4], {**posted[0], "channel": channel}, "circle_leave")
        (kick,) = h.emulator.calls_to("conversations.kick")
        assert kick.args["user"] == users[4]
        assert users[4] not in h.emulator.conversation(channel)["members"]
        assert "now 9" in text_of(h.emulator.messages(channel)[-1])


def test_export_and_forget_cover_circles(harness: Harness) -> None:
    h = harness
    users = [h.add_user(f"p{i}", tz="Europe/London") for i in range(5)]
    for uid in users:
        join(h, uid, f"Coaching first-time managers on my team, secret {uid}", "Engineering")
    h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    opening = h.group_messages(*users)[0]
    prompt_circle = circles_now(h)[0][0]
    to_next_prompt(h, prompt_circle.id)
    prompt = h.group_messages(*users)[-1]
    h.click(users[0], prompt, "circle_action_open")
    modal = h.emulator.top_modal(users[0])
    assert modal is not None
    h.driver.view_submission(users[0], modal["id"], {("circle_action_text", "value"): "Call Bo"})
    h.settle()
    privacy = h.container.privacy
    assert privacy is not None
    data = privacy.export(h.team, users[0])["peer_circles"]
    assert data["circles"][0]["text"].endswith(users[0])
    assert [a["text"] for a in data["actions"]] == ["Call Bo"]
    assert f"secret {users[1]}" not in json.dumps(data)
    privacy.forget(h.team, users[0])
    with unit_of_work(h.container.sessions) as s:
        texts = [m.text for m in s.scalars(select(CircleMember))]
        assert not any(users[0] in t for t in texts)
        assert [a.text for a in s.scalars(select(CircleAction))] != ["Call Bo"]
        gone = [m for m in s.scalars(select(CircleMember)) if m.left_at is not None]
        assert len(gone) == 1
    assert opening  # the others keep their circle of four
    assert len(circles_now(h)[0][1]) == 4


def test_forgotten_or_departed_members_leave_their_circle_kindly(harness: Harness) -> None:
    """Forget (privacy) and deactivation in Slack take the leave path: the others hear only
    that the circle is smaller, and below three it closes with the next round offered."""
    h = harness
    users = [h.add_user(f"f{i}", tz="Europe/London") for i in range(4)]
    for uid in users:
        join(h, uid, "Running effective one-to-ones with my reports", "Engineering")
    assert h.container.circles.form_round(h.team).sizes == [4]  # type: ignore[union-attr]
    h.settle()
    assert h.container.privacy is not None
    report = h.container.privacy.forget(h.team, users[0])
    assert report.circles_left == 1
    h.settle()
    (smaller,) = h.group_messages(*users[1:])
    assert "now 3" in text_of(smaller)
    assert f"<@{users[0]}>" not in text_of(smaller) and "f0" not in text_of(smaller)
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Circle)).one().status == CircleStatus.ACTIVE

    # The next one is deactivated in Slack: two are left, so the circle closes kindly.
    h.emulator.delete_user(users[1])
    r = h.driver.event({"type": "user_change", "user": h.emulator.user(users[1])})
    assert r.status == 200
    h.wait_for_listeners()
    h.settle()
    for u in users[2:]:
        closed = text_of(h.dms(u)[-1])
        assert "too small" in closed and "next round" in closed
        assert f"<@{users[1]}>" not in closed
    assert not any("too small" in text_of(m) for u in users[:2] for m in h.dms(u))
    with unit_of_work(h.container.sessions) as s:
        circle = s.scalars(select(Circle)).one()
        assert circle.status == CircleStatus.CLOSED and circle.closed_reason == "too_small"
        active = s.scalars(select(CircleMember).where(CircleMember.left_at.is_(None))).all()
        assert len(active) == 2
    # Nobody gone is left waiting in the pool either.
    join(h, users[2], "Running effective one-to-ones with my reports", "Engineering")
    with unit_of_work(h.container.sessions) as s:
        assert len(s.scalars(select(CirclePoolEntry)).all()) == 1


def test_retention_redacts_what_members_wrote_in_ended_circles(harness: Harness) -> None:
    h = harness
    users = [h.add_user(f"r{i}", tz="Europe/London") for i in range(4)]
    for uid in users:
        join(h, uid, f"Running effective one-to-ones, secret {uid}", "Engineering")
    h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    ((circle, _),) = circles_now(h)
    to_next_prompt(h, circle.id)
    prompt = h.group_messages(*users)[-1]
    h.click(users[0], prompt, "circle_action_open")
    modal = h.emulator.top_modal(users[0])
    assert modal is not None
    h.driver.view_submission(users[0], modal["id"], {("circle_action_text", "value"): "Call Bo"})
    h.settle()
    h.advance(timedelta(days=21) - (h.clock.now() - circle.starts_at))
    h.advance(timedelta(days=1))
    pulse = next(m for m in h.dms(users[1]) if "Halfway through" in text_of(m))
    h.click(users[1], pulse, "circle_feedback_open")
    modal = h.emulator.top_modal(users[1])
    assert modal is not None
    h.driver.view_submission(
        users[1],
        modal["id"],
        {("circle_rating", "value"): "4", ("circle_note", "value"): "Diaries clash"},
    )
    h.settle()

    def stored() -> tuple[list[str], list[str], list[tuple[int | None, str | None]], CircleStatus]:
        with unit_of_work(h.container.sessions) as s:
            return (
                [m.text for m in s.scalars(select(CircleMember))],
                [a.text for a in s.scalars(select(CircleAction))],
                [(f.rating, f.note) for f in s.scalars(select(CircleFeedback))],
                s.scalars(select(Circle)).one().status,
            )

    # Ended, but within the retention period: everything is kept.
    h.advance(timedelta(weeks=4))
    members, actions, feedback, status = stored()
    assert status == CircleStatus.CLOSED
    assert sorted(members) == sorted(f"Running effective one-to-ones, secret {u}" for u in users)
    assert actions == ["Call Bo"] and (4, "Diaries clash") in feedback
    # A year after it ended: what members wrote is gone; ratings stay.
    h.advance(timedelta(days=365))
    members, actions, feedback, _ = stored()
    assert members == [""] * 4 and actions == [""]
    assert (4, None) in feedback and all(note is None for _, note in feedback)
