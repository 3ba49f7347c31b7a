"""What circle notices refer to, read from the tables at send time (part of the notice facts).

Scoped to one workspace like the rest of ``StoreNoticeFacts``; a circle, prompt or action that
is gone (or of another workspace), or a person who was forgotten, raises ``NoticeGone``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.domain.circle_notices import (
    CircleActionView,
    CircleMemberView,
    CirclePromptView,
    CircleView,
)
from peerbot.domain.notices import NoticeGone
from peerbot.domain.privacy import is_forgotten
from peerbot.store.models import (
    Circle,
    CircleAction,
    CircleMember,
    CirclePrompt,
    CircleStatus,
    Person,
)

#: Actions listed from last week at most.
MAX_ACTIONS = 10


class StoreCircleFacts:
    """:class:`~peerbot.domain.circle_notices.CircleFacts` over ``self._session`` and
    ``self._team`` (set by the class that mixes this in)."""

    _session: Session
    _team: str

    def _circle_row(self, circle_id: int) -> Circle:
        circle = self._session.get(Circle, circle_id)
        if circle is None or circle.team_id != self._team:
            raise NoticeGone(f"circles {circle_id}")
        return circle

    def circle(self, circle_id: int) -> CircleView:
        """The circle and its current members (forgotten people are left out)."""
        circle = self._circle_row(circle_id)
        rows = self._session.execute(
            select(CircleMember, Person)
            .join(Person, Person.id == CircleMember.person_id)
            .where(CircleMember.circle_id == circle_id, CircleMember.left_at.is_(None))
            .order_by(CircleMember.position, CircleMember.id)
        ).all()
        members = tuple(
            CircleMemberView(
                person_id=p.id, user_id=p.slack_user_id, tz=p.tz, text=m.text, function=m.function
            )
            for m, p in rows
            if not is_forgotten(p.slack_user_id)
        )
        facilitator = None
        if circle.facilitator_id is not None:
            f = self._session.get(Person, circle.facilitator_id)
            if f is not None and not is_forgotten(f.slack_user_id):
                facilitator = f.slack_user_id
        return CircleView(
            circle_id=circle.id,
            theme=circle.theme,
            members=members,
            facilitator=facilitator,
            starts_at=circle.starts_at,
            ends_at=circle.ends_at,
            next_prompt_at=circle.next_prompt_at,
            private=circle.private,
            closed=circle.status == CircleStatus.CLOSED,
        )

    def circle_prompt(self, prompt_id: int) -> CirclePromptView:
        """The prompt, its circle, the presenter and last week's actions."""
        prompt = self._session.get(CirclePrompt, prompt_id)
        if prompt is None or prompt.team_id != self._team:
            raise NoticeGone(f"circle_prompts {prompt_id}")
        presenter = None
        if prompt.presenter_id is not None:
            p = self._session.get(Person, prompt.presenter_id)
            presenter = (
                p.slack_user_id if p is not None and not is_forgotten(p.slack_user_id) else None
            )
        last = self._session.execute(
            select(CircleAction, Person)
            .join(CirclePrompt, CirclePrompt.id == CircleAction.prompt_id)
            .join(Person, Person.id == CircleAction.person_id)
            .where(CirclePrompt.circle_id == prompt.circle_id, CirclePrompt.week == prompt.week - 1)
            .order_by(CircleAction.created_at, CircleAction.id)
            .limit(MAX_ACTIONS)
        ).all()
        return CirclePromptView(
            prompt_id=prompt.id,
            circle=self.circle(prompt.circle_id),
            week=prompt.week,
            presenter=presenter,
            sent_at=prompt.sent_at,
            last_week=tuple(
                CircleActionView(a.id, p.slack_user_id, a.text, prompt.week - 1)
                for a, p in last
                if not is_forgotten(p.slack_user_id)
            ),
        )

    def circle_action(self, action_id: int) -> tuple[CircleActionView, CircleView]:
        """The action and its circle."""
        action = self._session.get(CircleAction, action_id)
        if action is None or action.team_id != self._team:
            raise NoticeGone(f"circle_actions {action_id}")
        person = self._session.get(Person, action.person_id)
        if person is None or is_forgotten(person.slack_user_id):
            raise NoticeGone(f"the author of circle action {action_id}")
        prompt = self._session.get(CirclePrompt, action.prompt_id)
        week = prompt.week if prompt is not None else 0
        view = CircleActionView(action.id, person.slack_user_id, action.text, week)
        return view, self.circle(action.circle_id)

    def circle_person(self, person_id: int) -> str:
        """A person's Slack user id."""
        person = self._session.get(Person, person_id)
        if person is None or person.team_id != self._team or is_forgotten(person.slack_user_id):
            raise NoticeGone(f"person {person_id}")
        return person.slack_user_id
