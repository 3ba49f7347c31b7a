"""A circle's one-line theme, drawn from what its members want to work on. Pure.

The theme names what several members share, never one member's words alone: the phrase (up to
four words in a row, stopwords trimmed from its ends) that the most members' texts contain
in stemmed form, else the words most members use. Nothing only one person wrote is shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from peerbot.matching.bm25 import STOPWORDS, stem, tokenize

#: Longest theme, in characters.
MAX_THEME = 80
#: General English words that say nothing about a topic: determiners and quantifiers ("each",
#: "every", "other"), pronouns, auxiliaries, prepositions and adverbs that ``bm25.STOPWORDS``
#: (kept short for explanations) leaves out, everyday verbs in their common forms, and units of
#: time.
_ENGLISH = """
    each every either neither other others another such same own both few many much most
    several enough whole certain various ones these those he she him her his hers herself
    himself us ours ourselves yours yourself yourselves myself themselves itself anyone
    anything everyone everything everybody nobody nothing somebody whoever whatever were
    being did doing done having may might must shall let lets about above across after
    again against along among around before behind below beneath beside between beyond
    down during except inside near off onto out outside over past since than then through
    throughout till toward towards under until up upon via while within without too very
    quite rather still even ever only already always often sometimes usually almost maybe
    perhaps here now soon yet well much back away together instead otherwise else however
    though although because whether once twice first last next least less etc
    go goes going went gone give gives giving gave given take takes taking took taken keep
    keeps keeping kept try tries trying tried start starts starting started stop stops
    stopping stopped know knows knowing knew known think thinks thinking thought feel feels
    feeling felt use uses using used find finds finding found see sees seeing saw seen look
    looks looking looked run runs running ran put puts putting say says saying said tell
    tells telling told come comes coming came become becomes becoming became seem seems
    seemed deal deals dealing dealt handle handles handling handled do
    day days week weeks month months year years today
    """
ENGLISH_STOPWORDS = frozenset(_ENGLISH.split())
#: Words too generic to name a theme on their own: the general English ones above, and the
#: filler every manager's text shares ("team", "people", "work", "manager"...).
_GENERIC = (
    STOPWORDS
    | ENGLISH_STOPWORDS
    | frozenset(
        [
            "want",
            "work",
            "working",
            "team",
            "teams",
            "manager",
            "managers",
            "managing",
            "manage",
            "help",
            "how",
            "get",
            "make",
            "new",
            "more",
            "better",
            "way",
            "ways",
            "good",
            "like",
            "need",
            "needs",
            "people",
            "one",
            "also",
            "just",
            "really",
            "lot",
            "some",
            "about",
            "question",
            "questions",
            "someone",
            "something",
            "thing",
            "things",
            "time",
        ]
    )
)
#: Words of each text looked at (the start says what it is about).
WORDS = 40
FALLBACK = "growing as managers"


def _phrases(text: str) -> dict[tuple[str, ...], str]:
    """Stemmed 1–4 word phrases of ``text`` (no generic word at either end) → surface form."""
    words = tokenize(text)[:WORDS]
    out: dict[tuple[str, ...], str] = {}
    for size in (1, 2, 3, 4):
        for start in range(len(words) - size + 1):
            chunk = words[start : start + size]
            if chunk[0] in _GENERIC or chunk[-1] in _GENERIC or len(chunk[0]) < 3:
                continue
            if len(chunk[-1]) < 3 or any(w.isdigit() for w in chunk):
                continue
            key = tuple(stem(w) for w in chunk)
            out.setdefault(key, " ".join(chunk))
    return out


def circle_theme(texts: Sequence[str]) -> str:
    """A short line naming what the texts share, e.g. "delegating to senior reports"."""
    per_text = [_phrases(t) for t in texts if t.strip()]
    members: Counter[tuple[str, ...]] = Counter()
    surface: dict[tuple[str, ...], Counter[str]] = {}
    for phrases in per_text:
        for key, form in phrases.items():
            members[key] += 1
            surface.setdefault(key, Counter())[form] += 1
    shared = [key for key, count in members.items() if count >= 2]
    if not shared:
        return FALLBACK

    def form_of(key: tuple[str, ...]) -> str:
        return surface[key].most_common(1)[0][0]

    # A longer phrase beats its parts unless they are shared much more widely.
    best = max(
        shared, key=lambda key: (members[key] * (1 + 0.5 * (len(key) - 1)), len(key), form_of(key))
    )
    chosen = [best]
    # Add the next most shared single words not already in the phrase, up to three terms.
    singles = sorted(
        (key for key in shared if len(key) == 1 and key[0] not in best),
        key=lambda key: (-members[key], form_of(key)),
    )
    for key in singles:
        if len(chosen) >= 3 or members[key] < max(2, members[best] // 2):
            break
        chosen.append(key)
    line = ", ".join(form_of(k) for k in chosen)
    return line[:MAX_THEME].rsplit(" ", 1)[0] if len(line) > MAX_THEME else line
