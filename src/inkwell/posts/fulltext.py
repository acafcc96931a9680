"""Full-text search of posts on each database: the one module that writes engine-specific SQL for it.

A `SearchQuery` (see `posts.search`) is rendered into each engine's own query language, always as a bound
parameter built from words of letters and digits only, so that nothing a client sends is ever syntax:

- PostgreSQL: a `tsquery` (`'cloves' & ('green' <-> 'tea') & !'salt'`) against `posts.search_vector`, a
  generated `tsvector` (title weighted A, body B) with a GIN index, ranked by `ts_rank`;
- SQLite: an FTS5 query (`"cloves" AND "green tea" NOT "salt"`) against `posts_fts`, an external-content
  FTS5 table that triggers keep in step with `posts`, ranked by `bm25` with the title weighted 10;
- MariaDB: boolean mode (`+cloves +"green tea" -salt`) against a FULLTEXT index on (title, body), ranked by
  its relevance. Words InnoDB does not index (shorter than 3 characters, longer than 84, or stop words)
  cannot be required there: what holds them is checked with REGEXP on the rows instead.

Every engine orders the same way: posts whose title holds a word or phrase looked for first, then by rank,
then newest first.

The objects named here are created by the migration, outside the models: `inkwell db check` ignores them.
"""

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    column,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.mysql import match
from sqlalchemy.dialects.postgresql import TSVECTOR

from inkwell.posts.models import Post
from inkwell.posts.search import Phrase, SearchQuery

# PostgreSQL: the generated column and its index.
SEARCH_VECTOR = "search_vector"
SEARCH_VECTOR_INDEX = "ix_posts_search_vector"
# SQLite: the FTS5 table and the shadow tables FTS5 keeps its index in.
FTS_TABLE = "posts_fts"
FTS_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))})
# MariaDB: the FULLTEXT index.
FULLTEXT_INDEX = "ix_posts_fulltext"

SEARCH_INDEXES = frozenset({SEARCH_VECTOR_INDEX, FULLTEXT_INDEX})

Statement = Select[Any]


def search(statement: Statement, query: SearchQuery, dialect: str, *, offset: int, limit: int) -> Statement:
    """`statement` narrowed to the posts that match `query`, best first, then newest, from `offset` on."""
    return _RENDERERS[dialect](statement, query, offset, limit)


def _ordered(
    statement: Statement, title_hit: ColumnElement[Any], rank: ColumnElement[Any] | None
) -> Statement:
    ranks = () if rank is None else (rank.desc(),)
    return statement.order_by(title_hit.desc(), *ranks, Post.id.desc())


# PostgreSQL


_VECTOR = literal_column(f"posts.{SEARCH_VECTOR}", TSVECTOR)
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")


def _tsquery(text: str) -> ColumnElement[Any]:
    # A subquery, run once per statement: as a plain expression, a prepared statement's generic plan parses
    # the query again for every matching row (seven times slower on a million posts).
    return select(func.to_tsquery(_SIMPLE, literal(text, String))).scalar_subquery()


def _ts_phrase(phrase: Phrase) -> str:
    if len(phrase.words) == 1:
        return f"'{phrase.words[0]}'"
    # Within the title (A) or within the body (B): the vector numbers the body's words on from the title's,
    # so an unweighted phrase could run from the end of one into the start of the other.
    return f"({_ts_within(phrase, 'A')} | {_ts_within(phrase, 'B')})"


def _ts_within(phrase: Phrase, weight: str) -> str:
    lexemes = [f"'{word}':{weight}" for word in phrase.words]
    return f"({' <-> '.join(lexemes)})"


def _ts_any(phrases: Iterable[Phrase]) -> str:
    rendered = [_ts_phrase(phrase) for phrase in phrases]
    return rendered[0] if len(rendered) == 1 else f"({' | '.join(rendered)})"


def _postgresql(statement: Statement, query: SearchQuery, offset: int, limit: int) -> Statement:
    parts = [_ts_any(group) for group in query.required]
    parts += [f"!{_ts_phrase(phrase)}" for phrase in query.excluded]
    wanted = _tsquery(" & ".join(parts))
    in_title = _tsquery(" | ".join(_ts_within(phrase, "A") for phrase in query.wanted))
    return (
        _ordered(
            statement.where(_VECTOR.bool_op("@@")(wanted)),
            _VECTOR.bool_op("@@")(in_title),
            func.ts_rank(_VECTOR, wanted, type_=Float),
        )
        .offset(offset)
        .limit(limit)
    )


# SQLite


_FTS = table(FTS_TABLE, column("rowid", Integer), column(FTS_TABLE))
# bm25's weights, one per column (title, body); its scores are negative, lower is better. With the body
# weighted 0, the score is below 0 exactly when the title holds one of the query's phrases.
_BM25 = func.bm25(literal_column(FTS_TABLE), literal_column("10.0"), literal_column("1.0"), type_=Float)
_BM25_TITLE = func.bm25(literal_column(FTS_TABLE), literal_column("1.0"), literal_column("0.0"), type_=Float)


def _fts_phrase(phrase: Phrase) -> str:
    return f'"{" ".join(phrase.words)}"'


def _fts_any(phrases: Iterable[Phrase]) -> str:
    rendered = [_fts_phrase(phrase) for phrase in phrases]
    return rendered[0] if len(rendered) == 1 else f"({' OR '.join(rendered)})"


def _sqlite(statement: Statement, query: SearchQuery, offset: int, limit: int) -> Statement:
    wanted = " AND ".join(_fts_any(group) for group in query.required)
    wanted = f"({wanted})" + "".join(f" NOT {_fts_phrase(phrase)}" for phrase in query.excluded)
    in_title, rank = (_BM25_TITLE < 0).label("in_title"), _BM25.label("rank")
    # The page is picked in the full-text table alone, and only its posts are read: reading every match's
    # row from posts cost as much as ranking them.
    hits = select(_FTS.c.rowid.label("id"), in_title, rank).where(_FTS.c[FTS_TABLE].match(wanted))
    if statement.whereclause is not None:  # one author's posts: their rows tell which
        hits = hits.join(Post, Post.id == _FTS.c.rowid).where(statement.whereclause)
    page = hits.order_by(in_title.desc(), rank, _FTS.c.rowid.desc()).offset(offset).limit(limit).subquery()
    return statement.join(page, page.c.id == Post.id).order_by(
        page.c.in_title.desc(), page.c.rank, Post.id.desc()
    )


# MariaDB


# InnoDB's defaults (innodb_ft_min_token_size, innodb_ft_max_token_size, INNODB_FT_DEFAULT_STOPWORD).
_MIN_TOKEN = 3
_MAX_TOKEN = 84
_STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "are",
        "as",
        "at",
        "be",
        "by",
        "com",
        "de",
        "en",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "la",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "who",
        "will",
        "with",
        "und",
        "www",
    ]
)
_LETTER_OR_DIGIT = r"[\p{L}\p{N}]"


def _indexed(phrase: Phrase) -> bool:
    return all(_MIN_TOKEN <= len(word) <= _MAX_TOKEN and word not in _STOP_WORDS for word in phrase.words)


def _boolean_phrase(phrase: Phrase) -> str:
    return phrase.words[0] if len(phrase.words) == 1 else f'"{" ".join(phrase.words)}"'


def _boolean_any(phrases: tuple[Phrase, ...]) -> str:
    rendered = [_boolean_phrase(phrase) for phrase in phrases]
    return rendered[0] if len(rendered) == 1 else f"({' '.join(rendered)})"


def _pattern(phrases: Iterable[Phrase]) -> str:
    """A case-insensitive regular expression for any of `phrases`, as whole words."""
    alternatives = "|".join("[^\\p{L}\\p{N}]+".join(phrase.words) for phrase in phrases)
    return f"(?i)(?<!{_LETTER_OR_DIGIT})(?:{alternatives})(?!{_LETTER_OR_DIGIT})"


def _in_post(phrases: Iterable[Phrase]) -> ColumnElement[bool]:
    pattern = _pattern(phrases)
    return or_(Post.title.regexp_match(pattern), Post.body.regexp_match(pattern))


def _mariadb(statement: Statement, query: SearchQuery, offset: int, limit: int) -> Statement:
    against: list[str] = []
    checked: list[ColumnElement[bool]] = []
    for group in query.required:
        if all(_indexed(phrase) for phrase in group):
            against.append(f"+{_boolean_any(group)}")
            continue
        checked.append(_in_post(group))
        if len(group) == 1:  # its indexed words are required all the same: the index narrows the rows
            against += [f"+{word}" for word in group[0].words if _indexed(Phrase((word,)))]
    for phrase in query.excluded:
        if against and _indexed(phrase):
            against.append(f"-{_boolean_phrase(phrase)}")
        else:
            checked.append(not_(_in_post((phrase,))))
    in_title = Post.title.regexp_match(_pattern(query.wanted))
    if not against:
        return _ordered(statement.where(*checked), in_title, None).offset(offset).limit(limit)
    relevance = match(
        Post.title.expression, Post.body.expression, against=" ".join(against)
    ).in_boolean_mode()
    return _ordered(statement.where(relevance, *checked), in_title, relevance).offset(offset).limit(limit)


_RENDERERS: dict[str, Callable[[Statement, SearchQuery, int, int], Statement]] = {
    "postgresql": _postgresql,
    "sqlite": _sqlite,
    "mysql": _mariadb,
    "mariadb": _mariadb,
}
