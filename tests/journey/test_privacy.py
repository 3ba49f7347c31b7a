"""Privacy: forget leaves no trace of the asker's text in the database (SQLite file and WAL,
every PostgreSQL table read back as text), the helper is told the pair ended without the
reason, export holds the person's rows and nothing of anyone else, retention by time travel."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.engine import Engine

from peerbot.domain.profiles import ProfileInput
from peerbot.services.imports import HelperImporter
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Base,
    Commitment,
    Feedback,
    HelperNeverMatch,
    HelperProfile,
    IndexErasure,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    Pair,
    PairStatus,
    Person,
)
from tests.fixtures.app import Harness
from tests.journey.test_accountability import add_commitment, last_with, receipt
from tests.journey.test_ask_accept import text_of

CHALLENGE = "Quillfeather reorg: my report Zanzibar-Ofelia keeps missing deadlines after the merge"
DESIRED = "Xylotrope outcome: a fair improvement plan she agrees with"
OBSTACLES = "Vantablack worry: her manager before me promised her a promotion"
COMMITMENT = "Marzipan step: meet Ofelia on Thursday about the plan"
THANKS = "Gratitudinous thanks for the Thursday idea"
SECRETS = (CHALLENGE, DESIRED, OBSTACLES, COMMITMENT, "Zanzibar-Ofelia", "Quillfeather")


def database_bytes(engine: Engine, db_url: str) -> bytes:
    """Everything the database holds: for SQLite the file and its WAL byte for byte; for
    PostgreSQL every table's rows read back as text."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        out = b""
        for suffix in ("", "-wal"):
            path = Path(url.database + suffix)
            if path.exists():
                out += path.read_bytes()
        return out
    chunks = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            sql = f"SELECT t::text FROM {table.name} t"  # noqa: S608 (our own table names)
            rows = conn.execute(text(sql)).scalars()
            chunks.extend(str(r) for r in rows)
    return "\n".join(chunks).encode()


def paired_with_checkin(h: Harness) -> tuple[str, str]:
    helper = h.add_helper("fiona", "Coached managers through reorgs and missed deadlines.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE, DESIRED, OBSTACLES)
    h.click(helper, h.dms(helper)[0], "offer_accept")
    add_commitment(h, asker, receipt(h, asker), COMMITMENT)
    h.advance(timedelta(days=8))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    h.click(asker, checkin, "checkin_answer_in_progress")
    return asker, helper


def test_forget_the_asker_leaves_no_trace_and_tells_the_helper_without_the_reason(
    harness: Harness, engine: Engine, db_url: str
) -> None:
    h = harness
    asker, helper = paired_with_checkin(h)
    blob = database_bytes(h.container.engine, db_url)
    assert CHALLENGE.encode() in blob or b"Quillfeather" in blob  # the scan can see text

    report = h.container.privacy.forget(h.team, asker)
    h.settle()
    assert report.found and report.pairs_closed == 1 and report.asks_redacted == 1
    assert report.kept["asks"] == 1 and report.kept["pairs"] == 1

    # The helper hears that the pairing ended, in their own DM, and nothing about why.
    ended = h.dms(helper)[-1]
    said = text_of(ended)
    assert "has ended" in said
    for word in ("delete", "data", "privacy", "forget", "asked", asker):
        assert word not in said.lower() if word.islower() else word not in said
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.CLOSED
        assert s.scalars(select(Ask)).one().challenge == ""

    # No check-in or message goes to anyone about the pair any more.
    before_asker, before_helper = len(h.dms(asker)), len(h.dms(helper))
    h.advance(timedelta(days=30))
    assert len(h.dms(asker)) == before_asker and len(h.dms(helper)) == before_helper

    # The whole database holds none of the asker's texts, nor their Slack id or email.
    h.container.privacy.forget(h.team, helper)  # (the helper too: nothing breaks)
    h.container.privacy._compact()
    blob = database_bytes(h.container.engine, db_url)
    for secret in (*SECRETS, asker, "alex@example.com"):
        assert secret.encode() not in blob, secret

    # Idempotent.
    again = h.container.privacy.forget(h.team, asker)
    assert not again.found


def test_forget_withdraws_an_open_ask_and_updates_the_pending_offer(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Coached managers through reorgs and missed deadlines.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE, DESIRED, OBSTACLES)
    offer_dm = h.dms(helper)[0]
    assert "Quillfeather" in text_of(offer_dm)

    report = h.container.privacy.forget(h.team, asker)
    h.settle()
    assert report.asks_withdrawn == 1 and report.offers_withdrawn == 1
    updated = next(m for m in h.dms(helper) if m["ts"] == offer_dm["ts"])
    assert "withdrawn" in text_of(updated) and "Quillfeather" not in text_of(updated)
    assert not any(b.get("type") == "actions" for b in updated.get("blocks") or [])
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().status == AskStatus.CANCELLED
        assert s.scalars(select(Offer)).one().status == OfferStatus.WITHDRAWN


def test_forget_a_helper_moves_their_pending_offer_on(harness: Harness) -> None:
    h = harness
    first = h.add_helper("fiona", "Coached managers through reorgs and missed deadlines.")
    second = h.add_helper("gina", "Handled missed deadlines after a reorg and a merge.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    offered = first if h.dms(first) else second
    other = second if offered == first else first
    h.container.privacy.forget(h.team, offered)
    h.settle()
    assert any("Quillfeather" in text_of(m) for m in h.dms(other))


def test_export_holds_the_persons_rows_and_nothing_about_anyone_else(harness: Harness) -> None:
    h = harness
    asker, helper = paired_with_checkin(h)
    bystander = h.add_user("bea")
    h.add_helper("gina", "Negotiated budgets with finance for hiring plans.")
    h.ask(bystander, "Perambulator budget fight: finance refuses my hiring plan")

    mine = h.container.privacy.export_json(h.team, asker)
    data = json.loads(mine)
    assert data["person"]["slack_user_id"] == asker
    assert [a["challenge"] for a in data["asks"]] == [CHALLENGE]
    assert data["pairs"][0]["commitments"][0]["text"] == COMMITMENT
    assert data["pairs"][0]["with"] == helper
    assert data["messages"]  # the DMs peerbot sent them
    assert "Perambulator" not in mine and bystander not in mine
    assert "Coached managers" not in mine  # the helper's profile is theirs
    assert "fiona@example.com" not in mine

    theirs = h.container.privacy.export_json(h.team, helper)
    data = json.loads(theirs)
    assert data["helper_profile"]["expertise"].startswith("Coached managers")
    # Of the shared pair, what the helper saw: the ask and the commitments.
    assert data["pairs"][0]["ask"]["challenge"] == CHALLENGE
    assert "Perambulator" not in theirs and "alex@example.com" not in theirs


def test_retention_redacts_ended_asks_and_prunes_sent_messages(harness: Harness) -> None:
    h = harness
    asker, helper = paired_with_checkin(h)
    h.click(asker, h.group_messages(asker, helper)[0], "pair_close")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    h.driver.view_submission(
        asker,
        modal["id"],
        {
            ("close_outcome", "close_outcome_radio"): "resolved",
            ("close_rating", "close_rating_select"): "5",
            ("close_thanks", "close_thanks_input"): THANKS,
        },
    )
    h.settle()
    h.advance(timedelta(days=31))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().challenge == CHALLENGE  # kept within the year
        sent = s.scalars(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)
        ).all()
        assert sent == []  # sent messages are pruned after 30 days
    h.advance(timedelta(days=335))
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.challenge == "" and ask.desired_result is None and ask.obstacles is None
        assert ask.status == AskStatus.CLOSED
        assert all(c.text == "" for c in s.scalars(select(Commitment)))
        assert all(f.thanks is None for f in s.scalars(select(Feedback)))


def _remove(h: Harness, order: tuple[str, ...]) -> None:
    for kind in order:
        if kind == "app_uninstalled":
            event: dict[str, object] = {"type": "app_uninstalled"}
        else:
            event = {"type": "tokens_revoked", "tokens": {"bot": [h.emulator.bot_user_id]}}
        r = h.driver.event(event)
        assert r.status == 200
    h.wait_for_listeners()


@pytest.mark.parametrize(
    "order", [("app_uninstalled", "tokens_revoked"), ("tokens_revoked", "app_uninstalled")]
)
def test_uninstall_stops_sending_at_once_and_purges_after_the_grace_period(
    harness: Harness, db_url: str, order: tuple[str, ...]
) -> None:
    h = harness
    asker, _helper = paired_with_checkin(h)
    h.ask(h.add_user("bea"), "Second question about a reorg and missed deadlines")
    h.wait_for_listeners()
    _remove(h, order)
    h.emulator.clear_calls()
    h.advance(timedelta(days=8))  # a check-in falls due, offers expire: nothing goes out
    h.advance(timedelta(days=8))
    assert h.emulator.calls == []
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).all()  # kept during the grace period
    h.advance(timedelta(days=15))
    assert h.emulator.calls == []
    with unit_of_work(h.container.sessions) as s:
        for table in Base.metadata.sorted_tables:
            if "team_id" in table.c and table is not IndexErasure.__table__:
                rows = s.execute(select(table).where(table.c.team_id == h.team)).all()
                assert rows == [], table.name
        # Kept: the workspace's erasure count (the purge made one more), no person's data, so
        # that no host loads an index snapshot of it should it be installed again.
        kept = s.execute(select(IndexErasure).where(IndexErasure.team_id == h.team)).scalar_one()
        assert kept.erasures >= 1
    blob = database_bytes(h.container.engine, db_url)
    assert b"Quillfeather" not in blob and asker.encode() not in blob


def test_peerhelp_privacy_says_what_is_stored_and_app_home_downloads_and_deletes(
    harness: Harness,
) -> None:
    h = harness
    helper = h.add_helper("fiona", "Coached managers through reorgs and missed deadlines.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE, DESIRED, OBSTACLES)

    r = h.driver.slash_command("/peerhelp", asker, "privacy")
    assert r.status == 200
    said = json.dumps(r.body)
    for words in ("Your questions", "seen by", "365 days", "Download my data", "Delete my data"):
        assert words in said

    # App Home has the same part; Download my data sends the JSON to the person's DM.
    h.driver.app_home_opened(asker)
    h.settle()
    home = h.emulator.home_view(asker)
    assert home is not None and "Your data" in json.dumps(home)
    r = h.driver.block_action(asker, "privacy_download", view_id=home["id"])
    assert r.status == 200
    h.settle()
    export = h.dms(asker)[-1]
    shown = text_of(export)
    assert "Here is everything peerbot holds about you" in shown
    assert "Quillfeather reorg" in shown and "Coached managers" not in shown
    with unit_of_work(h.container.sessions) as s:  # the outbox holds no copy
        rows = s.scalars(select(OutboxMessage)).all()
        assert "Quillfeather" not in json.dumps([m.payload for m in rows])

    # Delete my data: a confirmation dialog first, then the data is gone.
    r = h.driver.block_action(asker, "privacy_delete", view_id=home["id"])
    h.settle()
    modal = h.emulator.top_modal(asker)
    assert modal is not None and modal["callback_id"] == "privacy_delete_confirm"
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().challenge == CHALLENGE  # nothing before confirming
    r = h.driver.view_submission(asker, modal["id"], {})
    assert r.status == 200
    assert "your data has been deleted" in json.dumps(r.body)
    h.settle()
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.challenge == "" and ask.status == AskStatus.CANCELLED
    assert "withdrawn" in text_of(h.dms(helper)[0])


def test_guests_bots_and_app_users_are_never_helpers(harness: Harness) -> None:
    h = harness
    guest = h.add_user("gus", can_be_messaged=False)  # the emulator's guest: is_restricted
    bot = h.add_user("botty", is_bot=True)
    h.add_helper("gus2", "Coached managers through reorgs and missed deadlines.")
    for uid in (guest, bot):
        h.container.helpers.save(
            h.team,
            uid,
            ProfileInput(opted_in=True, expertise="Coached managers through reorgs and deadlines."),
        )
    with unit_of_work(h.container.sessions) as s:
        opted = {
            p.slack_user_id: prof.opted_in
            for prof, p in s.execute(
                select(HelperProfile, Person).join(Person, Person.id == HelperProfile.person_id)
            )
        }
    assert opted[guest] is False and opted[bot] is False
    assert opted[h.users["gus2"]] is True
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    assert h.dms(guest) == [] and h.dms(h.users["gus2"])


def test_an_import_invites_nobody_is_offered_before_yes_and_reimport_keeps_own_choices(
    harness: Harness,
) -> None:
    h = harness
    ann = h.add_user("ann")
    bob = h.add_user("bob")
    guest = h.add_user("gus", can_be_messaged=False)
    csv_text = (
        "slack_user_id,expertise,capacity\n"
        f"{ann},Coached managers through reorgs and missed deadlines after mergers,3\n"
        f"{bob},Coached managers through reorgs and missed deadlines in sales,2\n"
        f"{guest},Coached managers through reorgs and missed deadlines as a guest,2\n"
    )
    importer = HelperImporter(
        h.container.sessions, h.container.clock, h.container.gateway, h.container.helpers
    )
    report = importer.run(h.team, csv_text)
    h.settle()
    assert (report.invited, report.helping, report.declined) == (2, 0, 0)
    assert "guests" in report.problems[0].reason
    invite = h.dms(ann)[0]
    said = text_of(invite)
    assert "The people who run the peer-help programme" in said and "3 conversations" in said
    assert h.dms(guest) == []

    # Nobody is offered an ask before yes.
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    assert len(h.dms(ann)) == 1 and len(h.dms(bob)) == 1
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().status == AskStatus.UNMET

    # Ann says yes, Bob not now; then Ann pauses herself and adds a never-match.
    h.click(ann, invite, "helper_invite_yes")
    h.click(bob, h.dms(bob)[0], "helper_invite_no")
    assert "You are now a helper" in text_of(h.dms(ann)[0])
    h.container.helpers.save(
        h.team,
        ann,
        ProfileInput(
            opted_in=False,
            expertise="My own words about reorgs, deadlines and mergers",
            capacity=1,
            never_match=(asker,),
        ),
    )
    again = importer.run(h.team, csv_text)
    h.settle()
    assert (again.invited, again.helping, again.declined, again.opted_out) == (0, 0, 1, 1)
    assert len(h.dms(bob)) == 1  # no second invitation
    with unit_of_work(h.container.sessions) as s:
        people = {p.slack_user_id: p for p in s.scalars(select(Person))}
        mine = s.get(HelperProfile, people[ann].id)
        assert mine is not None
        assert not mine.opted_in and mine.capacity == 1
        assert mine.expertise == "My own words about reorgs, deadlines and mergers"
        never = s.scalars(
            select(HelperNeverMatch).where(HelperNeverMatch.helper_person_id == people[ann].id)
        ).all()
        assert [n.blocked_slack_user_id for n in never] == [asker]
        theirs = s.get(HelperProfile, people[bob].id)
        assert theirs is not None and not theirs.opted_in and theirs.consent == "declined"


def test_dont_offer_this_to_and_the_askers_own_manager_are_never_offered(
    harness: Harness,
) -> None:
    h = harness
    best = h.add_helper("fiona", "Coached managers through reorgs and missed deadlines.")
    boss = h.add_helper("gina", "Coached managers through reorgs and missed deadlines, twice.")
    third = h.add_helper("hank", "Handled a merger where deadlines slipped for months.")
    asker = h.add_user("alex")
    view_id = h.open_intake(asker)
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    labels = json.dumps(modal["blocks"])
    assert "Don't offer this to" in labels and "Your manager" in labels
    r = h.driver.view_submission(
        asker,
        view_id,
        {
            ("challenge", "challenge_input"): CHALLENGE,
            ("urgency", "urgency_select"): "normal",
            ("excluded", "excluded_users"): [best],
            ("manager", "manager_user"): boss,
        },
    )
    assert r.status == 200
    h.settle()
    for _ in range(4):  # nobody answers: every candidate is tried in turn
        h.advance(timedelta(hours=6))
    assert h.dms(best) == [] and h.dms(boss) == []
    assert h.dms(third)
    with unit_of_work(h.container.sessions) as s:
        me = s.scalars(select(Person).where(Person.slack_user_id == asker)).one()
        assert me.manager_slack_user_id == boss


def test_an_anonymous_asks_explanation_names_nothing_derived_from_the_asker(
    harness: Harness,
) -> None:
    h = harness
    for i, tz in enumerate(("America/Los_Angeles", "America/New_York", "Europe/Berlin")):
        h.add_helper(f"helper{i}", "Coached managers through reorgs and missed deadlines.", tz=tz)
    asker = h.add_user("alex", tz="America/Los_Angeles")
    h.ask(asker, CHALLENGE, anonymous=True)
    named = h.add_user("nina", tz="America/Los_Angeles")
    h.ask(named, CHALLENGE.replace("Quillfeather", "Inkwell"))
    with unit_of_work(h.container.sessions) as s:
        rows = s.execute(select(Offer.explanation, Ask.anonymous).join(Ask)).all()
    anonymous = [e for e, anon in rows if anon]
    assert anonymous
    for explanation in anonymous:
        for derived in ("working hours with you", "your time zone", "your function", "with you"):
            assert derived not in explanation, explanation


def _deactivate(h: Harness, user: str) -> None:
    h.emulator.delete_user(user)
    assert h.driver.event({"type": "user_change", "user": h.emulator.user(user)}).status == 200
    h.settle()


def test_a_helper_deactivated_in_slack_is_moved_on_from_and_not_re_enrolled(
    harness: Harness,
) -> None:
    h = harness
    fiona = h.add_helper("fiona", "Helped a report who kept missing deadlines after a merge.")
    gus = h.add_helper("gus", "Coached managers whose reports missed deadlines after a re-org.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    first, second = h.first_offered(fiona, gus)

    _deactivate(h, first)

    # The offer waiting on them moved on to the next peer, consent first.
    assert any("looking for a peer" in t for t in h.texts(second))
    # Back in Slack, they are not silently a helper again: a new ask does not reach them.
    h.emulator.reactivate_user(first)
    h.driver.event({"type": "user_change", "user": h.emulator.user(first)})
    h.settle()
    before = len(h.dms(first))
    h.ask(h.add_user("bea"), CHALLENGE + " (a second team)")
    assert len(h.dms(first)) == before


def test_a_pair_whose_helper_is_deactivated_ends_and_the_asker_is_told_without_why(
    harness: Harness,
) -> None:
    h = harness
    fiona = h.add_helper("fiona", "Helped a report who kept missing deadlines after a merge.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(fiona, h.dms(fiona)[0], "offer_accept")
    assert h.group_messages(asker, fiona)

    _deactivate(h, fiona)

    told = h.texts(asker)[-1]
    assert "has ended" in told
    assert "fiona" not in told and "deactivat" not in told and f"<@{fiona}>" not in told
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair.status)).one() == PairStatus.CLOSED
