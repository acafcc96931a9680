"""The search benchmark's corpus: Zipf-distributed words, the same at every run, its bands where they
should be, and cached on disk."""

from pathlib import Path

import pytest

from bench import search


def test_every_rank_has_a_word_of_its_own_that_every_engine_indexes() -> None:
    words = [search.word(rank) for rank in range(search.VOCABULARY)]

    assert len(set(words)) == len(words)
    assert all(len(word) >= 4 and word.isalpha() and word.islower() for word in words)


def test_the_bands_go_from_common_to_rare() -> None:
    ranks = list(search.band_ranks().values())

    assert ranks == sorted(ranks)
    assert ranks[0] == 0
    assert len({query.scenario for query in search.queries()}) == 2 * len(search.BANDS)


def test_the_corpus_is_cached_and_the_same_at_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "CHUNK", 700)
    monkeypatch.setenv("BENCH_SEARCH_CACHE", str(tmp_path / "a"))
    path, counts = search.corpus(3_000)
    monkeypatch.setenv("BENCH_SEARCH_CACHE", str(tmp_path / "b"))
    again, _ = search.corpus(3_000)

    assert path.read_bytes() == again.read_bytes()
    assert search.corpus(3_000)[0].stat().st_mtime == again.stat().st_mtime  # read from the cache
    rows = list(search.post_rows(path, 3_000, now=None))  # type: ignore[arg-type]
    assert len(rows) == 3_000
    most = search.word(0)
    # The most common word is in most posts, and the counts are those of the text.
    holding = sum(most in f"{title} {body}".lower().split() for title, body, *_ in rows)
    assert holding / len(rows) > 0.9
    assert counts["search_most_one"]["all"] == sum(
        most in f"{title} {body}".lower().replace(".", "").split() for title, body, *_ in rows
    )
    assert counts["search_most_one"]["small"] == counts["search_most_one"]["all"]  # fewer than SMALL_ROWS
