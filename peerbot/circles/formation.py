"""Forming peer circles from a pool of people waiting. Pure and deterministic for a seed.

The pool is split into ``k`` circles of balanced sizes (``round(n / target)`` circles, kept so
that every size lies between ``min_size`` and ``max_size``; a remainder is spread one person per
circle, never dropped). People are assigned by a capacity-constrained k-means over the
embeddings of what they want to work on (seeded k-means++ start, greedy assignment of the most
similar person–circle pairs first), then improved by swaps that raise the within-circle
similarity and, when ``mix_functions``, the number of functions in each circle.

Hard rules, held at every step: nobody shares a circle with someone in their reporting line
(either way, at any depth: :func:`peerbot.matching.rules.management_chain`), with someone on
either side's never-match list, or with someone they shared a circle with in the recent rounds
given; and every circle shares at least ``min_shared_hours`` of weekday working hours across all
its members' time zones. A person who cannot be placed is returned with the reason and stays in
the pool for the next round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from peerbot.circles.hours import has_run, working_mask
from peerbot.circles.theme import circle_theme
from peerbot.domain.circle_notices import UnplacedReason
from peerbot.matching.rules import management_chain

#: Never more people in one circle than this, whatever the settings say.
HARD_MAX = 10
#: Worth of one more function in a circle, in units of pairwise cosine similarity.
MIX_WEIGHT = 0.3


#: Why a person was not placed (they stay in the pool); the text they are told is
#: :data:`peerbot.domain.circle_notices.UNPLACED_TEXT`.
Unplaced = UnplacedReason


@dataclass(frozen=True)
class PoolEntry:
    """One person waiting: their id (Slack user id), the unit vector of what they want to
    work on, that text (for the theme), their function and time zone, their never-match list,
    and whether they are an experienced helper who could facilitate."""

    id: str
    vector: npt.NDArray[np.float32]
    text: str = ""
    function: str | None = None
    tz: str | None = None
    never_match: frozenset[str] = field(default_factory=frozenset)
    experienced: bool = False


@dataclass(frozen=True)
class Rules:
    """Sizes and preferences of a round."""

    target: int = 6
    min_size: int = 4
    max_size: int = 8
    mix_functions: bool = True
    min_shared_hours: float = 2.0

    def __post_init__(self) -> None:
        if not 2 <= self.min_size <= self.target <= self.max_size <= HARD_MAX:
            raise ValueError(
                f"circle sizes must satisfy 2 <= min ({self.min_size}) <= target "
                f"({self.target}) <= max ({self.max_size}) <= {HARD_MAX}"
            )


@dataclass(frozen=True)
class Circle:
    """A formed circle: member ids, a one-line theme, the facilitator (a member) if any, and
    the weekday working-time slots all members share (a mask, see ``peerbot.circles.hours``)."""

    members: tuple[str, ...]
    theme: str
    facilitator: str | None
    shared_mask: int


@dataclass(frozen=True)
class Formation:
    """The circles formed and, for each person not placed, why."""

    circles: tuple[Circle, ...]
    unplaced: Mapping[str, Unplaced]


def circle_count(n: int, rules: Rules) -> int:
    """How many circles ``n`` people make: about ``n / target``, with every size in range
    (0 when ``n`` is below the smallest circle)."""
    if n < rules.min_size:
        return 0
    lo = -(-n // rules.max_size)
    hi = n // rules.min_size
    k = int(np.floor(n / rules.target + 0.5))
    return max(lo, min(hi, max(1, k)))


def balanced_sizes(n: int, k: int) -> list[int]:
    """``k`` sizes summing to ``n`` that differ by at most one, the larger first."""
    base, extra = divmod(n, k)
    return [base + 1] * extra + [base] * (k - extra)


class _Problem:
    """The pool as arrays and the pairwise rules as adjacency sets."""

    def __init__(
        self,
        pool: Sequence[PoolEntry],
        managers: Mapping[str, str | None],
        recent_pairs: Collection[frozenset[str]],
        week: datetime,
        rules: Rules,
    ) -> None:
        self.pool = pool
        self.rules = rules
        self.n = len(pool)
        self.index = {p.id: i for i, p in enumerate(pool)}
        dim = pool[0].vector.shape[0] if pool else 1
        x = np.zeros((self.n, dim), dtype=np.float32)
        for i, p in enumerate(pool):
            v = np.asarray(p.vector, dtype=np.float32)
            norm = float(np.linalg.norm(v))
            x[i] = v / norm if norm > 0 else v
        self.x = x
        self.masks = [working_mask(p.tz, week) for p in pool]
        self.min_slots = int(np.ceil(rules.min_shared_hours * 2))
        self.functions = [(p.function or "").strip().casefold() or None for p in pool]
        self._by_mask: Counter[int] | None = None
        self.conflicts: list[set[int]] = [set() for _ in pool]
        for i, p in enumerate(pool):
            others = [*management_chain(p.id, managers), *p.never_match]
            for other in others:
                j = self.index.get(other)
                if j is not None and j != i:
                    self.conflicts[i].add(j)
                    self.conflicts[j].add(i)
        for pair in recent_pairs:
            ids = [j for j in (self.index.get(u) for u in pair) if j is not None]
            if len(ids) == 2 and ids[0] != ids[1]:
                a, b = ids
                self.conflicts[a].add(b)
                self.conflicts[b].add(a)

    def hours_ok(self, i: int, j: int) -> bool:
        return has_run(self.masks[i] & self.masks[j], self.min_slots)

    def fits(self, i: int, members: Collection[int], mask: int | None) -> bool:
        """Whether ``i`` may join ``members`` (whose shared mask is ``mask``; None when empty)."""
        if any(m in self.conflicts[i] for m in members):
            return False
        joint = self.masks[i] if mask is None else mask & self.masks[i]
        return has_run(joint, self.min_slots)

    def mask_of(self, members: Collection[int], without: int | None = None) -> int | None:
        out: int | None = None
        for m in members:
            if m == without:
                continue
            out = self.masks[m] if out is None else out & self.masks[m]
        return out

    def why_not(self, i: int) -> Unplaced:
        """The most telling reason person ``i`` could not be placed."""
        need = self.rules.min_size - 1
        if self._by_mask is None:
            self._by_mask = Counter(self.masks)
        mine = self.masks[i]
        hours = sum(
            count for mask, count in self._by_mask.items() if has_run(mask & mine, self.min_slots)
        )
        if has_run(mine, self.min_slots):
            hours -= 1  # not themselves
        if hours < need:
            return Unplaced.NO_SHARED_HOURS
        blocked = sum(1 for j in self.conflicts[i] if self.hours_ok(i, j))
        if hours - blocked < need:
            return Unplaced.CONFLICTS
        return Unplaced.NO_ROOM


def _kmeans_pp(x: npt.NDArray[np.float32], k: int, rng: np.random.Generator) -> list[int]:
    """Seeds for ``k`` centroids, spread out (k-means++ on cosine distance)."""
    n = x.shape[0]
    first = int(rng.integers(n))
    chosen = [first]
    dist = np.clip(1.0 - x @ x[first], 0.0, None)
    for _ in range(1, k):
        total = float(dist.sum())
        if total <= 0:
            rest = [i for i in range(n) if i not in set(chosen)]
            chosen.append(rest[int(rng.integers(len(rest)))])
        else:
            chosen.append(int(rng.choice(n, p=dist / total)))
        dist = np.minimum(dist, np.clip(1.0 - x @ x[chosen[-1]], 0.0, None))
    return chosen


class _Assignment:
    """Members per circle, with their shared masks."""

    def __init__(self, problem: _Problem, caps: list[int]) -> None:
        self.p = problem
        self.caps = caps
        self.members: list[list[int]] = [[] for _ in caps]
        self.masks: list[int | None] = [None for _ in caps]
        self.where: dict[int, int] = {}

    def add(self, i: int, c: int) -> None:
        self.members[c].append(i)
        mask = self.p.masks[i]
        prev = self.masks[c]
        self.masks[c] = mask if prev is None else prev & mask
        self.where[i] = c

    def remove(self, i: int) -> None:
        c = self.where.pop(i)
        self.members[c].remove(i)
        self.masks[c] = self.p.mask_of(self.members[c])

    def fits(self, i: int, c: int) -> bool:
        return self.p.fits(i, self.members[c], self.masks[c])


def _greedy(problem: _Problem, centroids: npt.NDArray[np.float32], caps: list[int]) -> _Assignment:
    """Assign the most similar (person, circle) pairs first, within capacity and the rules;
    people left over are placed by :func:`_repair`."""
    a = _Assignment(problem, caps)
    sims = problem.x @ centroids.T
    k = len(caps)
    # Most similar first; ties by person then circle, so the order is deterministic.
    order = np.argsort(-sims.ravel(), kind="stable")
    for flat in order:
        i, c = divmod(int(flat), k)
        if i in a.where or len(a.members[c]) >= caps[c]:
            continue
        if a.fits(i, c):
            a.add(i, c)
            if len(a.where) == problem.n:
                break
    return a


def _repair(a: _Assignment, centroid_sims: npt.NDArray[np.float32]) -> list[int]:
    """Place those the greedy pass left out: into a circle with room, else by moving someone
    out of a circle they fit into a circle with room, else into a circle already full (up to
    the largest size). Returns those still left out."""
    p = a.p
    left = [i for i in range(p.n) if i not in a.where]
    still: list[int] = []
    for i in left:
        prefs = [int(c) for c in np.argsort(-centroid_sims[i], kind="stable")]
        placed = False
        for c in prefs:
            if len(a.members[c]) < a.caps[c] and a.fits(i, c):
                a.add(i, c)
                placed = True
                break
        if not placed:
            for c in prefs:
                if not a.fits(i, c):
                    continue
                for q in list(a.members[c]):
                    dest = next(
                        (
                            r
                            for r in range(len(a.caps))
                            if r != c and len(a.members[r]) < a.caps[r] and a.fits(q, r)
                        ),
                        None,
                    )
                    if dest is not None:
                        a.remove(q)
                        a.add(q, dest)
                        a.add(i, c)
                        placed = True
                        break
                if placed:
                    break
        if not placed:
            for c in sorted(prefs, key=lambda c: len(a.members[c])):
                if len(a.members[c]) < p.rules.max_size and a.fits(i, c):
                    a.add(i, c)
                    placed = True
                    break
        if not placed:
            still.append(i)
    return still


def _rebalance(a: _Assignment, sims: npt.NDArray[np.float32]) -> bool:
    """Even out circles left larger than their balanced size (people the greedy pass could not
    fit were put into a full circle): move someone from the largest circle to the smallest,
    directly or through a circle between (one person each), while the rules allow. Returns
    whether anything moved."""
    p = a.p
    open_ = [c for c in range(len(a.caps)) if a.caps[c] and a.members[c]]
    moved = False
    for _ in range(p.n):
        if len(open_) < 2:
            break
        sizes = {c: len(a.members[c]) for c in open_}
        big = max(open_, key=lambda c: (sizes[c], -c))
        small = min(open_, key=lambda c: (sizes[c], c))
        if sizes[big] - sizes[small] <= 1:
            break
        moves = _moves_to_even(a, sims, big, small, open_)
        if not moves:
            break
        for i, c in moves:
            a.remove(i)
            a.add(i, c)
        moved = True
    return moved


def _moves_to_even(
    a: _Assignment, sims: npt.NDArray[np.float32], big: int, small: int, open_: list[int]
) -> list[tuple[int, int]]:
    """One person from ``big`` into ``small``, or else one from a circle between into
    ``small`` and one from ``big`` into the place they left: the moves, in order ([] when
    the rules allow neither)."""
    direct = _move_into(a, sims, big, small)
    if direct is not None:
        return [direct]
    for mid in open_:
        if mid in (big, small):
            continue
        second = _move_into(a, sims, mid, small)
        if second is None:
            continue
        first = _move_into(a, sims, big, mid, leaving=second[0])
        if first is not None:
            return [second, first]
    return []


def _move_into(
    a: _Assignment, sims: npt.NDArray[np.float32], src: int, dest: int, leaving: int | None = None
) -> tuple[int, int] | None:
    """The member of ``src`` most like circle ``dest`` who may join it (with ``leaving``, a
    member of ``dest``, gone), as (person, ``dest``); None when nobody fits."""
    p = a.p
    rest = [m for m in a.members[dest] if m != leaving]
    mask = p.mask_of(rest)
    fits = [i for i in a.members[src] if p.fits(i, rest, mask)]
    if not fits:
        return None
    return max(fits, key=lambda i: (float(sims[i, dest]), -i)), dest


def _improve(a: _Assignment, rounds: int, mix: bool) -> None:
    """Swap pairs of people between circles while that raises the within-circle similarity
    (the sum of pairwise cosines) plus, when ``mix``, a bonus per distinct function."""
    p = a.p
    x = p.x
    k = len(a.caps)
    if k < 2:
        return
    sums = np.stack(
        [x[m].sum(axis=0) if m else np.zeros(x.shape[1], np.float32) for m in a.members]
    )
    proj_t = np.ascontiguousarray((x @ sums.T).T)  # proj_t[c, i] = x_i · S_c
    gram = x @ x.T
    funcs: list[Counter[str]] = [
        Counter(f for m in mem if (f := p.functions[m])) for mem in a.members
    ]
    mix_weight = MIX_WEIGHT if mix else 0.0
    circle_of = np.array([a.where.get(i, -1) for i in range(p.n)])
    placed = circle_of >= 0
    cb = circle_of.clip(0)
    everyone = np.arange(p.n)
    own = proj_t[cb, everyone]
    top = min(24, p.n - 1)
    for _ in range(rounds):
        changed = False
        for i in range(p.n):
            ca = int(circle_of[i])
            if ca < 0:
                continue
            # Change of the two circles' pair sums when i and j swap.
            delta = proj_t[ca] - own - (proj_t[ca, i] - proj_t[cb, i]) + 2.0 - 2.0 * gram[i]
            delta[~placed | (circle_of == ca)] = -np.inf
            part = np.argpartition(-delta, top)[: top + 1] if p.n > top + 1 else everyone
            best = part[np.argsort(-delta[part], kind="stable")]
            for j in (int(j) for j in best):
                if not np.isfinite(delta[j]):
                    break
                cbj = int(circle_of[j])
                gain = float(delta[j])
                if mix_weight:
                    gain += mix_weight * _mix_gain(
                        funcs[ca], funcs[cbj], p.functions[i], p.functions[j]
                    )
                if gain <= 1e-6:
                    continue
                rest_a = [m for m in a.members[ca] if m != i]
                rest_b = [m for m in a.members[cbj] if m != j]
                if not p.fits(j, rest_a, p.mask_of(rest_a)) or not p.fits(
                    i, rest_b, p.mask_of(rest_b)
                ):
                    continue
                a.remove(i)
                a.remove(j)
                a.add(i, cbj)
                a.add(j, ca)
                circle_of[i], circle_of[j] = cbj, ca
                cb[i], cb[j] = cbj, ca
                diff = x[j] - x[i]
                sums[ca] += diff
                sums[cbj] -= diff
                change = x @ diff
                proj_t[ca] += change
                proj_t[cbj] -= change
                own = proj_t[cb, everyone]
                for counter, out, inn in ((funcs[ca], i, j), (funcs[cbj], j, i)):
                    fo, fi = p.functions[out], p.functions[inn]
                    if fo:
                        counter[fo] -= 1
                        if counter[fo] <= 0:
                            del counter[fo]
                    if fi:
                        counter[fi] += 1
                changed = True
                break
        if not changed:
            return


def _mix_gain(fa: Counter[str], fb: Counter[str], fi: str | None, fj: str | None) -> int:
    """Change of distinct functions in circles a and b when i (in a) and j (in b) swap."""
    if fi == fj:
        return 0

    def distinct_after(counter: Counter[str], out: str | None, inn: str | None) -> int:
        before = len(counter)
        after = before
        if out and counter[out] == 1:
            after -= 1
        if inn and counter.get(inn, 0) == 0:
            after += 1
        return after - before

    return distinct_after(fa, fi, fj) + distinct_after(fb, fj, fi)


def _centroids(x: npt.NDArray[np.float32], members: list[list[int]]) -> npt.NDArray[np.float32]:
    out = np.stack([x[m].mean(axis=0) if m else np.zeros(x.shape[1], np.float32) for m in members])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


def form_circles(
    pool: Sequence[PoolEntry],
    *,
    week: datetime,
    managers: Mapping[str, str | None] | None = None,
    recent_pairs: Collection[frozenset[str]] = (),
    rules: Rules = Rules(),
    seed: int = 0,
    iterations: int = 3,
) -> Formation:
    """Form circles from ``pool`` (see the module docstring for the rules).

    ``week`` is the reference week for working hours (its Monday, :func:`hours.week_start`);
    ``managers`` maps a user id to their manager's (the reporting lines); ``recent_pairs`` are
    the pairs of ids who shared a circle in the rounds to avoid. The same arguments and seed
    always give the same circles, in whatever order the pool is given.
    """
    ordered = sorted(pool, key=lambda e: e.id)
    if len({e.id for e in ordered}) != len(ordered):
        raise ValueError("the pool names someone twice")
    if len(ordered) < rules.min_size:
        return Formation(circles=(), unplaced={e.id: Unplaced.TOO_FEW for e in ordered})
    problem = _Problem(ordered, managers or {}, recent_pairs, week, rules)
    unplaced: dict[str, Unplaced] = {}
    # Who could never be placed: fewer than min_size - 1 compatible others.
    candidates = list(range(problem.n))
    for i in range(problem.n):
        reason = problem.why_not(i)
        if reason != Unplaced.NO_ROOM:
            unplaced[ordered[i].id] = reason
    candidates = [i for i in candidates if ordered[i].id not in unplaced]
    best: tuple[tuple[int, int, float], list[Circle], dict[str, Unplaced]] | None = None
    for attempt in range(restarts(len(candidates))):
        missed = dict(unplaced)
        circles = _form(problem, candidates, rules, seed * 1000 + attempt, iterations, missed)
        score = (-len(missed), -_excess(circles), _objective(problem, circles, rules.mix_functions))
        if best is None or score > best[0]:
            best = (score, circles, missed)
    assert best is not None
    return Formation(circles=tuple(best[1]), unplaced=best[2])


def restarts(n: int) -> int:
    """Independent starts for ``n`` people (the best is kept): swaps alone can get stuck where
    three circles each hold part of another's topic; small pools afford several starts."""
    if n <= 100:
        return 8
    if n <= 400:
        return 3
    return 1


def _excess(circles: Sequence[Circle]) -> int:
    """How far the sizes are from balanced: the people beyond the larger balanced size and
    the places short of the smaller one (0 when sizes differ by at most one). The pair-sum
    objective alone would prefer a 5-6-7 to a 6-6-6 (46 pairs against 45)."""
    if not circles:
        return 0
    placed = sum(len(c.members) for c in circles)
    low, high = placed // len(circles), -(-placed // len(circles))
    return sum(max(0, len(c.members) - high) + max(0, low - len(c.members)) for c in circles)


def _objective(problem: _Problem, circles: Sequence[Circle], mix: bool) -> float:
    """What the search maximises: the within-circle pair similarities, plus a bonus per
    distinct function in a circle when ``mix``."""
    total = 0.0
    for c in circles:
        idx = [problem.index[m] for m in c.members]
        v = problem.x[idx].sum(axis=0)
        total += (float(v @ v) - len(idx)) / 2
        if mix:
            total += MIX_WEIGHT * len({problem.functions[i] for i in idx} - {None})
    return total


def _form(
    problem: _Problem,
    candidates: list[int],
    rules: Rules,
    seed: int,
    iterations: int,
    unplaced: dict[str, Unplaced],
) -> list[Circle]:
    ordered = problem.pool
    k = circle_count(len(candidates), rules)
    if k == 0:
        for i in candidates:
            unplaced[ordered[i].id] = Unplaced.TOO_FEW
        return []
    # Work on the candidates only.
    sub = _Problem.__new__(_Problem)
    sub.__dict__.update(problem.__dict__)
    remap = {old: new for new, old in enumerate(candidates)}
    sub.pool = [ordered[i] for i in candidates]
    sub.n = len(candidates)
    sub.x = problem.x[candidates]
    sub.masks = [problem.masks[i] for i in candidates]
    sub.functions = [problem.functions[i] for i in candidates]
    sub._by_mask = None
    sub.conflicts = [{remap[j] for j in problem.conflicts[i] if j in remap} for i in candidates]
    caps = balanced_sizes(sub.n, k)
    rng = np.random.default_rng(seed)
    centroids = sub.x[_kmeans_pp(sub.x, k, rng)]
    assignment = _greedy(sub, centroids, caps)
    for _ in range(iterations):
        centroids = _centroids(sub.x, assignment.members)
        nxt = _greedy(sub, centroids, caps)
        if nxt.where == assignment.where:
            break
        assignment = nxt
    sims = sub.x @ centroids.T
    left = _repair(assignment, sims)
    _improve(assignment, rounds=4, mix=rules.mix_functions)
    # Circles too small to meet are dissolved; their people tried elsewhere.
    for c, members in enumerate(assignment.members):
        if 0 < len(members) < rules.min_size:
            gone = list(members)
            for i in gone:
                assignment.remove(i)
            assignment.caps[c] = 0
            left.extend(gone)
    left = sorted(set(left))
    still: list[int] = []
    for i in left:
        spots = [
            c
            for c in np.argsort(-sims[i], kind="stable")
            if assignment.caps[int(c)] and len(assignment.members[int(c)]) < rules.max_size
        ]
        dest = next((int(c) for c in spots if assignment.fits(i, int(c))), None)
        if dest is not None:
            assignment.add(i, dest)
        else:
            still.append(i)
    if _rebalance(assignment, sims):
        _improve(assignment, rounds=2, mix=rules.mix_functions)
    extra: list[Circle] = []
    if still:
        rest = [candidates[i] for i in still]
        if rules.min_size <= len(rest) < len(candidates):
            # Those left over may form circles of their own (e.g. another time-zone band).
            extra = _form(problem, rest, rules, seed + 1, iterations, unplaced)
        else:
            for i in still:
                reason = sub.why_not(i)
                if reason == Unplaced.NO_ROOM and len(rest) < rules.min_size:
                    reason = Unplaced.TOO_FEW
                unplaced[sub.pool[i].id] = reason
    circles: list[Circle] = []
    for members in assignment.members:
        if not members:
            continue
        members = sorted(members, key=lambda m: sub.pool[m].id)
        centre = sub.x[members].mean(axis=0)
        experienced = [m for m in members if sub.pool[m].experienced]
        facilitator = (
            sub.pool[max(experienced, key=lambda m: (float(sub.x[m] @ centre), -m))].id
            if experienced
            else None
        )
        mask = sub.mask_of(members) or 0
        circles.append(
            Circle(
                members=tuple(sub.pool[m].id for m in members),
                theme=circle_theme([sub.pool[m].text for m in members]),
                facilitator=facilitator,
                shared_mask=mask,
            )
        )
    circles.extend(extra)
    circles.sort(key=lambda c: c.members)
    return circles


def within_similarity(vectors: npt.NDArray[np.float32], groups: Sequence[Sequence[int]]) -> float:
    """Mean over groups of the mean pairwise cosine similarity inside each group."""
    x = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    values = []
    for g in groups:
        if len(g) < 2:
            continue
        s = x[list(g)].sum(axis=0)
        m = len(g)
        values.append((float(s @ s) - m) / (m * (m - 1)))
    return float(np.mean(values)) if values else 0.0
