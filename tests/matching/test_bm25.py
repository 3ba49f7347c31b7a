"""BM25 against hand-computed values."""

from __future__ import annotations

import math

import pytest

from peerbot.matching.bm25 import BM25Index, analyze, tokenize


def _index() -> BM25Index:
    bm = BM25Index(k1=1.2, b=0.75)
    bm.add(0, ["a", "b"])
    bm.add(1, ["a", "c", "c"])
    return bm


def test_tokenize_lowercases_and_splits_punctuation() -> None:
    assert tokenize("Low-performer, 1:1s_now!") == ["low", "performer", "1", "1s", "now"]


def test_scores_match_hand_computation() -> None:
    bm = _index()
    # N=2, avgdl=2.5. "c": n=1, idf=ln(1+1.5/1.5)=ln 2; doc 1: tf=2, dl=3.
    norm1 = 1.2 * (1 - 0.75 + 0.75 * 3 / 2.5)
    expected_c = math.log(2) * 2 * 2.2 / (2 + norm1)
    # "a": n=2, idf=ln(1+0.5/2.5)=ln 1.2; doc 0: tf=1, dl=2.
    norm0 = 1.2 * (1 - 0.75 + 0.75 * 2 / 2.5)
    expected_a0 = math.log(1.2) * 1 * 2.2 / (1 + norm0)
    expected_a1 = math.log(1.2) * 1 * 2.2 / (1 + norm1)
    s = bm.score(["c", "a", "c"], 2)  # repeated query terms count once
    assert s[0] == pytest.approx(expected_a0)
    assert s[1] == pytest.approx(expected_c + expected_a1)
    assert expected_c == pytest.approx(0.902322, abs=1e-6)
    assert bm.term_contributions(["a", "c"], 1) == pytest.approx(
        {"a": expected_a1, "c": expected_c}
    )


def test_unknown_terms_and_empty_index_score_zero() -> None:
    assert BM25Index().score(["x"], 3).tolist() == [0.0, 0.0, 0.0]
    assert _index().score(["zzz"], 2).tolist() == [0.0, 0.0]


def test_incremental_changes_equal_fresh_build() -> None:
    bm = _index()
    bm.add(2, ["c", "d"])
    bm.add(0, ["c"])
    bm.remove(1)
    bm.replace(2, ["d", "d", "a"])
    fresh = BM25Index()
    fresh.add(0, ["a", "b", "c"])
    fresh.add(2, ["d", "d", "a"])
    q = ["a", "c", "d"]
    assert bm.score(q, 3).tolist() == pytest.approx(fresh.score(q, 3).tolist())
    assert len(bm) == 2
    assert bm.average_length == pytest.approx(3.0)


# Real-ish texts: punctuation, digits, underscores, stopwords, stems, and unicode (accents,
# ligatures, German sharp s, Greek final sigma, Turkish dotted I, CJK, emoji, curly quotes).
TEXTS = [
    "How do I give feedback to a senior engineer whose performance dropped after a reorg?",
    "Hiring my first data scientist — interviews, offers & onboarding (2nd time)",
    "Remote team morale: burnout, 1:1s_now and re-orgs",
    "Straße, STRASSE and strasse; Ǆemal's Ǆ team",
    "Équipe à distance: réunions, délégation et priorités",
    "ΣΟΦΟΣ οδυσσευς: ΟΔΥΣΣΕΥΣ",
    "İstanbul ofisinde İşe alım süreci",
    "ﬁnal ﬂow of the ﬁrst sprint",
    "会议 太多 了 怎么办 团队",
    "🚀 launch plan… “quoted” ‘words’ don’t break",
    "",
    "the and of to",  # stopwords only
    "performance reviews reviewing reviewed review",
    "under_score snake_case tab\there new\nline",
]


def _reference(docs: dict[int, list[str]]) -> BM25Index:
    """The incremental index, one :meth:`BM25Index.add` per text (the old way of building)."""
    bm = BM25Index()
    for slot, texts in docs.items():
        tokens: list[str] = []
        for text in texts:
            tokens.extend(analyze(text))
        bm.add(slot, tokens)
    return bm


def _bulk(docs: dict[int, list[str]]) -> BM25Index:
    slots = [slot for slot, texts in docs.items() for _ in texts]
    return BM25Index.from_texts(slots, [t for texts in docs.values() for t in texts])


def _queries() -> list[list[str]]:
    return [analyze(t) for t in [*TEXTS, "straße review équipe sigma σοφος istanbul 团队 final"]]


def _assert_same(a: BM25Index, b: BM25Index, n_slots: int) -> None:
    assert len(a) == len(b)
    assert a.average_length == b.average_length
    for q in _queries():
        assert a.score(q, n_slots).tolist() == b.score(q, n_slots).tolist(), q
        for slot in range(n_slots):
            assert a.term_contributions(q, slot) == b.term_contributions(q, slot)
            assert a.doc_length(slot) == b.doc_length(slot)
        for term in q:
            assert a.idf(term) == b.idf(term)


def test_bulk_tokenising_gives_the_same_terms_as_analyze() -> None:
    from peerbot.matching.bm25 import _bulk_terms

    text_of, term_ids, terms, _ = _bulk_terms(TEXTS)
    got: list[list[str]] = [[] for _ in TEXTS]
    for t, term in zip(text_of.tolist(), term_ids.tolist(), strict=True):
        got[t].append(terms[term])
    assert got == [analyze(t) for t in TEXTS]
    assert "strass" in terms and "σοφοσ" in terms and "istanbul" not in terms  # casefold
    ascii_only = [t for t in TEXTS if t.isascii()]
    text_of, term_ids, terms, _ = _bulk_terms(ascii_only)  # the joined fast path
    got = [[] for _ in ascii_only]
    for t, term in zip(text_of.tolist(), term_ids.tolist(), strict=True):
        got[t].append(terms[term])
    assert got == [analyze(t) for t in ascii_only]
    with_nul = ["a\x00b review", "reviews"]  # a text holding the separator itself
    text_of, term_ids, terms, _ = _bulk_terms(with_nul)
    assert [(t, terms[i]) for t, i in zip(text_of.tolist(), term_ids.tolist(), strict=True)] == [
        (0, "b"),
        (0, "review"),
        (1, "review"),
    ]


def test_bulk_index_scores_exactly_like_the_incremental_one_and_stays_so_after_changes() -> None:
    docs = {s: [TEXTS[(s * 3 + j) % len(TEXTS)] for j in range(1 + s % 4)] for s in range(12)}
    docs[12] = [""]  # a helper with no text still counts as a document
    ref, bulk = _reference(docs), _bulk(docs)
    _assert_same(ref, bulk, 14)
    for bm in (ref, bulk):
        bm.remove(3)  # a base document removed
        bm.add(5, analyze("more burnout and hiring interviews"))  # a base document grows
        bm.add(13, analyze("a new helper on straße reviews"))  # a new document
        bm.replace(7, analyze("conflict between tech leads"))
        bm.remove(99)  # absent: nothing happens
    _assert_same(ref, bulk, 14)
    assert bulk.doc_length(3) == 0 and len(bulk) == 13


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_bulk_tokenising_in_chunks_is_the_same_as_in_one_pass(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk build tokenises a few texts at a time: chunk borders (ASCII and unicode
    chunks, a text holding the separator) change no term, no text number and no score."""
    from peerbot.matching import bm25

    texts = [*TEXTS, "a\x00b review", "", *reversed(TEXTS)]
    docs = {s: [texts[(s * 5 + j) % len(texts)] for j in range(1 + s % 3)] for s in range(15)}
    whole = bm25._bulk_terms(texts)
    ref = _bulk(docs)
    monkeypatch.setattr(bm25, "_BULK_TEXTS", chunk)
    parts = bm25._bulk_terms(texts)
    assert [a.tolist() for a in parts[:2]] == [a.tolist() for a in whole[:2]]
    assert parts[2:] == whole[2:]
    _assert_same(ref, _bulk(docs), 15)
    _assert_same(_reference(docs), _bulk(docs), 15)
