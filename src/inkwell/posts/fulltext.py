"""Full-text search of posts on each database: the one module that writes engine-specific SQL for it.

A `SearchQuery` (see `posts.search`) is rendered into each engine's own query language, always as a bound
parameter built from words of letters and digits only, so that nothing a client sends is ever syntax:

- PostgreSQL: a `tsquery` (`'cloves' & ('green' <-> 'tea') & !'salt'`) against `posts.search_vector`, a
  generated `tsvector` (title weighted A, body B) with a GIN index, ranked by `ts_rank`; where a RUM index
  on the vector holds the ids too, it finds the newest matches;
- SQLite: an FTS5 query (`"cloves" AND "green tea" NOT "salt"`) against `posts_fts`, an external-content
  FTS5 table that triggers keep in step with `posts`, ranked by `bm25` with the title weighted 10;
- MariaDB: boolean mode (`+cloves +"green tea" -salt`) against a FULLTEXT index on (title, body), ranked by
  its relevance. Words InnoDB does not index (shorter than 3 characters, longer than 84, or stop words)
  cannot be required there, nor words so common among the newest posts that the index would hand back
  most of the table: what holds them is checked with REGEXP on the rows instead. Where the server has the
  Mroonga engine, a query with a word InnoDB does not index, or one too common for InnoDB's index and not
  for Mroonga's, goes to `posts_search`, a Mroonga table of the posts' texts (revision 0014), which indexes
  every word and gives the newest matches without building the list of every match.

The cost of a search is bounded by its window: only the newest `window` matches (by id, which the index
gives in order) are ranked, posts whose title holds a word or phrase looked for first, then by rank, then
newest first; matches older than the window follow, newest first, when a page reaches past it. Where a
query has no more matches than the window holds, this is the ranking of every match.

The objects named here are created by the migration, outside the models: `inkwell db check` ignores them.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Executable,
    Float,
    Integer,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.dialects.mysql import match
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import Pool

from inkwell.orm import records
from inkwell.posts.models import Post, PostRecord
from inkwell.posts.search import Phrase, Search, SearchQuery

# PostgreSQL: the generated column and its index.
SEARCH_VECTOR = "search_vector"
SEARCH_VECTOR_INDEX = "ix_posts_search_vector"
# PostgreSQL, where the RUM extension is installed: an index on the vector that also holds each post's id,
# so that it gives the matches newest first (revision 0013).
RUM_INDEX = "ix_posts_search_rum"
# SQLite: the FTS5 table and the shadow tables FTS5 keeps its index in.
FTS_TABLE = "posts_fts"
FTS_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))})
# MariaDB: the FULLTEXT index; where the server has the Mroonga engine, a table of the posts' texts and its
# full-text index (revision 0014).
FULLTEXT_INDEX = "ix_posts_fulltext"
MROONGA_TABLE = "posts_search"
MROONGA_INDEX = "ix_posts_search_text"
MROONGA_TRIGGERS = ("posts_search_insert", "posts_search_update")

SEARCH_TABLES = FTS_TABLES | {MROONGA_TABLE}
SEARCH_INDEXES = frozenset({SEARCH_VECTOR_INDEX, RUM_INDEX, FULLTEXT_INDEX, MROONGA_INDEX})

Statement = Select[Any]
Parameters = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """How one query runs on one database.

    `window`: the ids of the newest matches, at most the search's window of them; `ranked(offset, limit)`:
    those matches' posts, best first; `newest_first`: every match's post, newest first. `complete` is false
    where the window is found by reading only the newest posts (MariaDB's common words), so that a window
    smaller than the search's does not prove that there is no older match.
    """

    window: Statement
    ranked: Callable[[int, int], Statement]
    newest_first: Statement
    complete: bool = True
    parameters: Parameters = field(default_factory=dict)  # the statements' own, beside the caller's


async def find(
    connection: AsyncConnection,
    statement: Statement,
    parameters: Parameters,
    search: Search,
    *,
    offset: int,
    limit: int,
) -> list[PostRecord]:
    """The posts of `statement` that match `search`, `limit` of them from `offset` on: the newest matches
    ranked (at most `search.window` of them), then the older ones, newest first."""
    plan = await _plan(connection, statement, parameters, search)
    parameters = {**parameters, **plan.parameters}
    window = search.window
    found: list[PostRecord] = []
    if offset < window:
        paged = {**parameters, RANK_OFFSET: offset, RANK_LIMIT: limit}
        found = records(await connection.execute(plan.ranked(offset, limit), paged), PostRecord)
        if len(found) == limit or (plan.complete and offset + len(found) < window):
            return found
        size = offset + len(found) if found or offset == 0 else None
    else:
        size = window if plan.complete else None
    if size is None:  # the window is smaller than the page's start: how much smaller
        counted = select(func.count()).select_from(plan.window.subquery())
        size = (await connection.execute(counted, parameters)).scalar_one()
    older = plan.newest_first.offset(max(offset, size)).limit(limit - len(found))
    return found + records(await connection.execute(older, parameters), PostRecord)


# The page of the ranked window, where a statement is built once and takes them as parameters.
RANK_OFFSET, RANK_LIMIT = "rank_offset", "rank_limit"


async def _plan(
    connection: AsyncConnection, statement: Statement, parameters: Parameters, search: Search
) -> Plan:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return await _postgresql(connection, statement, parameters, search)
    if dialect == "sqlite":
        return await _sqlite(connection, statement, parameters, search)
    return await _mariadb(connection, statement, parameters, search)


def _by_ids(
    statement: Statement, window: Statement, order: Callable[[Any], Iterable[ColumnElement[Any]]]
) -> Callable[[int, int], Statement]:
    """The ranked page: the window's posts, joined by id and ordered by `order(window)`."""

    def ranked(offset: int, limit: int) -> Statement:
        ranks = window.subquery("window")
        return (
            statement.join(ranks, ranks.c.id == Post.id).order_by(*order(ranks)).offset(offset).limit(limit)
        )

    return ranked


def _newest(statement: Statement, window: int) -> Statement:
    return statement.with_only_columns(Post.id).order_by(Post.id.desc()).limit(window)


# PostgreSQL


_VECTOR = literal_column(f"posts.{SEARCH_VECTOR}", TSVECTOR)
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")


# The query's words are written into the statement (the text holds only words of letters and digits,
# quoted), not bound: the planner then knows how many posts hold them (the column's statistics) and picks
# the primary key for a common word, the GIN index for a rare one. A bound parameter leaves it guessing,
# and a guess for a common word read the whole list of its matches. So are the bounds of the window.
_WANTED = bindparam("search_wanted", type_=String, literal_execute=True)
_IN_TITLE = bindparam("search_in_title", type_=String, literal_execute=True)
_WINDOW = bindparam("search_window", type_=Integer, literal_execute=True)
_LOWEST = bindparam("search_lowest", type_=Integer, literal_execute=True)


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


async def _postgresql(
    connection: AsyncConnection, statement: Statement, parameters: Parameters, search: Search
) -> Plan:
    query = search.query
    parts = [_ts_any(group) for group in query.required]
    parts += [f"!{_ts_phrase(phrase)}" for phrase in query.excluded]
    rum = await has_rum_index(connection)
    built = _postgresql_statements(statement, rum=rum)
    own = {
        "search_wanted": " & ".join(parts),
        "search_in_title": " | ".join(_ts_within(phrase, "A") for phrase in query.wanted),
        "search_window": search.window,
    }
    spans = SPANS[:1] if rum else SPANS
    lowest = await _lowest_of_window(connection, built, {**parameters, **own}, search.window, spans)
    if lowest is None:
        return Plan(built.window, lambda *_: built.ranked, built.newest_first, parameters=own)
    own["search_lowest"] = lowest
    return Plan(built.bounded_window, lambda *_: built.bounded_ranked, built.newest_first, parameters=own)


# Whether each engine's database has the optional indexes, asked once per connection pool (the engines of a
# request's options share their pool): one added or dropped later is seen after a restart.
_FOUND: WeakKeyDictionary[Pool, dict[str, bool]] = WeakKeyDictionary()


async def _has(connection: AsyncConnection, name: str, exists: ColumnElement[Any]) -> bool:
    found = _FOUND.setdefault(connection.engine.sync_engine.pool, {})
    if name not in found:
        found[name] = bool((await connection.execute(select(exists))).scalar_one())
    return found[name]


async def has_rum_index(connection: AsyncConnection) -> bool:
    """Whether the database of `connection` (PostgreSQL) has the RUM index on the search vector."""
    return await _has(connection, RUM_INDEX, func.to_regclass(literal(RUM_INDEX, String)).is_not(None))


_TABLES = table(
    "TABLES", column("TABLE_SCHEMA"), column("TABLE_NAME"), column("ENGINE"), schema="information_schema"
)


async def has_mroonga_table(connection: AsyncConnection) -> bool:
    """Whether the database of `connection` (MariaDB) has the Mroonga table of the posts' texts."""
    named = (
        func.database() == _TABLES.c.TABLE_SCHEMA,
        _TABLES.c.TABLE_NAME == MROONGA_TABLE,
        _TABLES.c.ENGINE == "Mroonga",
    )
    return await _has(connection, MROONGA_TABLE, exists().where(*named))


# The RUM index orders the matches by their distance to the highest id an integer column holds: newest
# first, from the index alone (the GIN index gives no order, and the primary key reads every post for a
# rare word).
_NEWEST_BY_RUM = Post.id.op("<=|", return_type=Integer)(literal_column("2147483647"))
_NEWEST = Post.id.desc()


@dataclass(frozen=True, slots=True)
class _PostgresqlStatements:
    """A list's search statements, built once: building them for every request cost more CPU than the
    database's work for a common word."""

    top: Statement
    probe: Executable
    window: Statement
    ranked: Statement
    bounded_window: Statement
    bounded_ranked: Statement
    newest_first: Statement


@lru_cache(maxsize=16)
def _postgresql_statements(statement: Statement, *, rum: bool) -> _PostgresqlStatements:
    wanted = func.to_tsquery(_SIMPLE, _WANTED)
    in_title = func.to_tsquery(_SIMPLE, _IN_TITLE)
    matching = statement.where(_VECTOR.bool_op("@@")(wanted))
    # Where the whole table is looked in: by the RUM index where there is one (ids are unique, so the
    # order is the same).
    newest_order = _NEWEST_BY_RUM if rum else _NEWEST

    def newest(where: Statement, order: ColumnElement[Any] = _NEWEST) -> Statement:
        return where.with_only_columns(Post.id).order_by(order).limit(_WINDOW)

    def ranked(window: Statement) -> Statement:
        # Ranked as the window's rows are read (ts_rank reads each one's vector, the cost of ranking every
        # match), and only the page's posts read again.
        scored = window.add_columns(
            _VECTOR.bool_op("@@")(in_title).label("in_title"),
            func.ts_rank(_VECTOR, wanted, type_=Float).label("rank"),
        ).subquery("window")
        page = (
            select(scored.c.id, scored.c.in_title, scored.c.rank)
            .order_by(scored.c.in_title.desc(), scored.c.rank.desc(), scored.c.id.desc())
            .offset(bindparam(RANK_OFFSET, type_=Integer))
            .limit(bindparam(RANK_LIMIT, type_=Integer))
            .subquery("page")
        )
        return statement.join(page, page.c.id == Post.id).order_by(
            page.c.in_title.desc(), page.c.rank.desc(), Post.id.desc()
        )

    probed = newest(matching.where(Post.id > _LOWEST)).subquery("newest")
    probe = select(func.count().label("found"), func.min(probed.c.id).label("lowest"))
    window, bounded_window = newest(matching, newest_order), newest(matching.where(Post.id >= _LOWEST))
    return _PostgresqlStatements(
        top=select(func.max(Post.id)),
        probe=probe,
        window=window,
        ranked=ranked(window),
        bounded_window=bounded_window,
        bounded_ranked=ranked(bounded_window),
        newest_first=matching.order_by(newest_order),
    )


# PostgreSQL looks for the newest matches among the newest posts first: in spans of this many times the
# window, then in the whole table. With the RUM index, only in the first span (where a common word's
# matches are met soonest by the primary key), then in the whole table by the RUM index.
SPANS = (8, 64, 512)


async def _lowest_of_window(
    connection: AsyncConnection,
    built: _PostgresqlStatements,
    parameters: Parameters,
    window: int,
    spans: tuple[int, ...],
) -> int | None:
    """The lowest id of the newest `window` matches, when they are found among the newest posts; None to
    look in the whole table.

    The GIN index knows which rows match, not their ids: the newest matches of a word in 2% of the posts
    would otherwise be read by the primary key (fifty posts for each match) or all sorted by id. Bounded to
    the newest posts, the index and the primary key meet on a few rows.
    """
    top = (await connection.execute(built.top)).scalar()
    for span in spans:
        if top is None or top <= span * window:
            return None
        probed = {**parameters, "search_lowest": top - span * window}
        row = (await connection.execute(built.probe, probed)).one()
        if row.found >= window:
            return int(row.lowest)
    return None


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


async def _sqlite(
    connection: AsyncConnection, statement: Statement, parameters: Parameters, search: Search
) -> Plan:
    query = search.query
    wanted = " AND ".join(_fts_any(group) for group in query.required)
    wanted = f"({wanted})" + "".join(f" NOT {_fts_phrase(phrase)}" for phrase in query.excluded)
    # The newest rowids straight from the full-text index (FTS5 reads a word's list backwards). Only the
    # page's posts are read.
    hits = select(_FTS.c.rowid.label("id")).where(_FTS.c[FTS_TABLE].match(wanted))
    if statement.whereclause is not None:  # one author's posts: their rows tell which
        hits = hits.join(Post, Post.id == _FTS.c.rowid).where(statement.whereclause)
    newest_hits = hits.order_by(_FTS.c.rowid.desc())
    window = newest_hits.limit(search.window)
    older = newest_hits.subquery("older")
    newest_first = statement.join(older, older.c.id == Post.id).order_by(Post.id.desc())
    if await _has_common_phrase(connection, query, search):
        return Plan(window, _sqlite_counted(statement, query, window), newest_first)
    # bm25 is computed only for the rows the window keeps; but it first counts the posts that hold each
    # phrase, which for a common word costs as much as ranking every match: hence the other way above.
    scored = newest_hits.add_columns((_BM25_TITLE < 0).label("in_title"), _BM25.label("rank"))
    scored = scored.limit(search.window)

    def ranked(offset: int, limit: int) -> Statement:
        ranks = scored.subquery("window")
        page = (
            select(ranks.c.id, ranks.c.in_title, ranks.c.rank)
            .order_by(ranks.c.in_title.desc(), ranks.c.rank, ranks.c.id.desc())
            .offset(offset)
            .limit(limit)
            .subquery("page")
        )
        return statement.join(page, page.c.id == Post.id).order_by(
            page.c.in_title.desc(), page.c.rank, Post.id.desc()
        )

    return Plan(window, ranked, newest_first)


async def _has_common_phrase(connection: AsyncConnection, query: SearchQuery, search: Search) -> bool:
    """Whether a phrase of the query is in so many posts that bm25 would count more than
    `search.scan_rows` of them: estimated from the newest PROBE_ROWS posts, a bounded read of the index."""
    probe_rows = _probe_rows(search)
    top = (await connection.execute(select(func.max(_FTS.c.rowid)))).scalar()
    if top is None or top <= probe_rows:
        return False
    counts = [
        select(func.count())
        .select_from(_FTS)
        .where(_FTS.c[FTS_TABLE].match(_fts_phrase(phrase)), _FTS.c.rowid > top - probe_rows)
        .scalar_subquery()
        for phrase in query.phrases
    ]
    found = (await connection.execute(select(*counts))).one()
    return any(count * top > search.scan_rows * probe_rows for count in found)


def _probe_rows(search: Search) -> int:
    """How many of the newest posts tell the common words: PROBE_ROWS, fewer where `scan_rows` is small."""
    return max(1, min(PROBE_ROWS, search.scan_rows // 25))


def _sqlite_counted(
    statement: Statement, query: SearchQuery, window: Statement
) -> Callable[[int, int], Statement]:
    """The window ranked without bm25: posts whose title holds a phrase looked for first (checked on the
    window's rows with REGEXP, which SQLAlchemy gives SQLite as Python's `re`), then by how often the
    words looked for occur in the post."""
    words = "|".join(r"[\W_]+".join(phrase.words) for phrase in query.wanted)
    # Python is called only for the titles that hold one of the first words (lower() folds ASCII only:
    # the others are all checked).
    holds = or_(*(func.instr(func.lower(Post.title), phrase.words[0]) > 0 for phrase in query.wanted))
    ascii_only = all(word.isascii() for phrase in query.wanted for word in phrase.words)
    pattern = Post.title.regexp_match(rf"(?i)(?<![^\W_])(?:{words})(?![^\W_])")
    in_title = case((holds, pattern), else_=False) if ascii_only else pattern
    order = (in_title.desc(), _occurrences(query).desc(), Post.id.desc())
    return _by_ids(statement, window, lambda _: order)


def _occurrences(query: SearchQuery, length: Any = func.length) -> ColumnElement[Any]:
    """How often the words looked for occur in the title and the body (as parts of words too): the rank
    where the index's own would cost reading every match."""
    text = func.lower(Post.title.concat(" ").concat(Post.body))
    words = list(dict.fromkeys(word for phrase in query.wanted for word in phrase.words))
    return sum(
        ((func.length(text) - func.length(func.replace(text, word, ""))) / len(word) for word in words),
        literal(0),
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
# How many of the newest posts MariaDB reads to tell the common words (see `_mariadb`), at most.
PROBE_ROWS = 2_000


def _indexed(phrase: Phrase) -> bool:
    """Whether InnoDB's index holds every word of `phrase`."""
    return all(_MIN_TOKEN <= len(word) <= _MAX_TOKEN and word not in _STOP_WORDS for word in phrase.words)


def _innodb_most(search: Search) -> int:
    """The most matches a word may have for InnoDB's index to be asked for it: a tenth of `scan_rows`. Its
    list of matches costs far more than Mroonga's: a word in 20,000 of a million posts took 2 s, where
    reading the newest posts for it took 60 ms."""
    return max(1, search.scan_rows // 10)


def _any_phrase(phrase: Phrase) -> bool:
    """Mroonga's index holds every word."""
    return True


def _boolean_phrase(phrase: Phrase) -> str:
    return phrase.words[0] if len(phrase.words) == 1 else f'"{" ".join(phrase.words)}"'


def _boolean_any(phrases: tuple[Phrase, ...]) -> str:
    rendered = [_boolean_phrase(phrase) for phrase in phrases]
    return rendered[0] if len(rendered) == 1 else f"({' '.join(rendered)})"


def _pattern(phrases: Iterable[Phrase]) -> str:
    """A case-insensitive regular expression for any of `phrases`, as whole words."""
    alternatives = "|".join("[^\\p{L}\\p{N}]+".join(phrase.words) for phrase in phrases)
    return f"(?i)(?<!{_LETTER_OR_DIGIT})(?:{alternatives})(?!{_LETTER_OR_DIGIT})"


def _in_post(
    phrases: Iterable[Phrase], title: Any = Post.title, body: Any = Post.body
) -> ColumnElement[bool]:
    pattern = _pattern(phrases)
    return or_(title.regexp_match(pattern), body.regexp_match(pattern))


def _probed_words(query: SearchQuery, indexed: Callable[[Phrase], bool]) -> list[str]:
    """The words the index could be asked for, once each."""
    return list(
        dict.fromkeys(word for phrase in query.phrases for word in phrase.words if indexed(Phrase((word,))))
    )


async def _expected_matches(
    connection: AsyncConnection,
    statement: Statement,
    parameters: Parameters,
    search: Search,
    words: list[str],
) -> dict[str, float] | None:
    """How many posts each word is expected in, from its share of the newest ones. None when the probe saw
    every post: then no word is costly."""
    probe_rows = _probe_rows(search)
    # The highest id stands for the number of posts (of any author: an upper bound for one author's).
    top = select(func.max(Post.id)).scalar_subquery()
    if statement.whereclause is None:  # a range of the primary key: cheaper than its newest rows sorted
        recent = statement.with_only_columns(Post.title, Post.body).where(Post.id > top - probe_rows)
    else:  # the author's newest posts, from the index on (author_id, id)
        recent = statement.with_only_columns(Post.title, Post.body).order_by(Post.id.desc()).limit(probe_rows)
    rows = recent.subquery("recent")
    # LIKE first, a cheap test that a word inside a longer one passes too; REGEXP, for whole words, only on
    # the rows it lets through.
    counts = [
        func.sum(
            case(
                (
                    or_(rows.c.title.contains(word), rows.c.body.contains(word)),
                    case((_in_post((Phrase((word,)),), rows.c.title, rows.c.body), 1), else_=0),
                ),
                else_=0,
            )
        )
        for word in words
    ]
    probe = select(func.count(), top, *counts).select_from(rows)
    row = (await connection.execute(probe, parameters)).one()
    seen, posts, hits = row[0], row[1] or 0, row[2:]
    if posts <= probe_rows if statement.whereclause is None else seen < probe_rows:
        return None  # every post was seen
    return {word: (found or 0) * posts / max(seen, 1) for word, found in zip(words, hits, strict=True)}


def _mroonga_pays(query: SearchQuery, expected: dict[str, float] | None, search: Search) -> bool:
    """Whether Mroonga serves the query better than InnoDB's index: it holds a word InnoDB does not index
    (which the rows would be read for), or one too common for InnoDB's index and not for Mroonga's. For
    rarer words InnoDB's index costs less (a word in 2,500 of a million posts: 54 searches a second
    through InnoDB, 28 through Mroonga, at 32 connections)."""
    if not all(_indexed(phrase) for phrase in query.phrases):
        return True
    least = _innodb_most(search)
    return expected is not None and any(least < count <= search.scan_rows for count in expected.values())


async def _mariadb(
    connection: AsyncConnection, statement: Statement, parameters: Parameters, search: Search
) -> Plan:
    query = search.query
    mroonga = await has_mroonga_table(connection)
    words = _probed_words(query, _any_phrase if mroonga else _indexed)
    expected = await _expected_matches(connection, statement, parameters, search, words)
    mroonga = mroonga and _mroonga_pays(query, expected, search)
    indexed, most = (_any_phrase, search.scan_rows) if mroonga else (_indexed, _innodb_most(search))
    common = None if expected is None else frozenset(word for word, count in expected.items() if count > most)
    usable = (
        indexed if common is None else (lambda phrase: indexed(phrase) and not set(phrase.words) & common)
    )
    against: list[str] = []
    checked: list[ColumnElement[bool]] = []
    for group in query.required:
        if all(usable(phrase) for phrase in group):
            against.append(f"+{_boolean_any(group)}")
            continue
        checked.append(_in_post(group))
        if len(group) == 1:  # its usable words are required all the same: the index narrows the rows
            against += [f"+{word}" for word in group[0].words if usable(Phrase((word,)))]
    for phrase in query.excluded:
        if against and usable(phrase):
            against.append(f"-{_boolean_phrase(phrase)}")
        else:
            checked.append(not_(_in_post((phrase,))))
    in_title = Post.title.regexp_match(_pattern(query.wanted))
    if not against:
        return _mariadb_scan(statement, search, checked, in_title)
    if mroonga:
        return await _mroonga(connection, statement, parameters, search, " ".join(against), checked, in_title)
    relevance = match(
        Post.title.expression, Post.body.expression, against=" ".join(against)
    ).in_boolean_mode()
    matching = statement.where(relevance, *checked)
    # InnoDB builds the whole list of matches, with their relevance, whatever the LIMIT: the words it is
    # asked for are the uncommon ones, whose lists are short.
    window = (
        matching.with_only_columns(Post.id, relevance.label("relevance"))
        .order_by(Post.id.desc())
        .limit(search.window)
    )

    def order(ranks: Any) -> tuple[ColumnElement[Any], ...]:
        return in_title.desc(), ranks.c.relevance.desc(), Post.id.desc()

    return Plan(window, _by_ids(statement, window, order), matching.order_by(Post.id.desc()))


def _mariadb_scan(
    statement: Statement, search: Search, checked: list[ColumnElement[bool]], in_title: ColumnElement[bool]
) -> Plan:
    """Every word is common (or not indexed): the window is found by reading the newest posts, at most
    `search.scan_rows` of them, and ranked by counting the words in each."""
    if statement.whereclause is None:
        lowest = select(func.max(Post.id) - search.scan_rows).scalar_subquery()
    else:  # the author's newest posts, from the index on (author_id, id)
        newest = (
            statement.with_only_columns(Post.id)
            .order_by(Post.id.desc())
            .limit(search.scan_rows)
            .subquery("newest")
        )
        lowest = select(func.min(newest.c.id) - 1).scalar_subquery()
    matching = statement.where(*checked)
    window = _newest(matching.where(Post.id > lowest), search.window)
    relevance = _occurrences(search.query, func.char_length)  # not bytes

    def order(_: Any) -> tuple[ColumnElement[Any], ...]:
        return in_title.desc(), relevance.desc(), Post.id.desc()

    return Plan(window, _by_ids(statement, window, order), matching.order_by(Post.id.desc()), complete=False)


# MariaDB, where the server has Mroonga: `posts_search` holds every text a post was written with (Mroonga
# keeps no transactions: a rolled-back write stays), keyed by the post's id and the digest of its title and
# body; a match counts where the post, as the transaction sees it, has that digest (revision 0014).

_TEXTS = table(
    MROONGA_TABLE,
    column("id", Integer),
    column("digest", LargeBinary),
    column("title", String),
    column("body", String),
    column("written_at", DateTime),
)


def _digest(title: Any, body: Any) -> ColumnElement[Any]:
    return func.unhex(func.md5(func.concat_ws(func.char(0), title, body)))


def _words(text: Any) -> ColumnElement[Any]:
    """The text with every run of what is not a letter or a digit made one space: Mroonga's tokenizer then
    splits words where the query parser does."""
    return func.regexp_replace(text, literal(r"[^\p{L}\p{N}]+", String), literal(" ", String))


def _holds(texts: Any) -> ColumnElement[bool]:
    """Whether the post holds the text (a row of `texts`, the table or a subquery of it)."""
    return and_(texts.c.id == Post.id, texts.c.digest == _digest(Post.title, Post.body))


_HOLDS_TEXT = _holds(_TEXTS)


async def _mroonga(
    connection: AsyncConnection,
    statement: Statement,
    parameters: Parameters,
    search: Search,
    against: str,
    checked: list[ColumnElement[bool]],
    in_title: ColumnElement[bool],
) -> Plan:
    """The matches of `against` (and of `checked`, the common words' checks on the rows), from Mroonga."""
    relevance = match(_TEXTS.c.title, _TEXTS.c.body, against=against).in_boolean_mode()
    held = statement.join(_TEXTS, _HOLDS_TEXT).where(relevance, *checked)
    window = (
        held.with_only_columns(Post.id, relevance.label("relevance"), in_title.label("in_title"))
        .order_by(Post.id.desc())
        .limit(search.window)
    )
    ranks = None
    if statement.whereclause is None:
        ranks = await _newest_texts(connection, relevance, checked, in_title, search.window)
    if ranks is None:  # one author's, or too few of the newest texts held or passing the checks
        rows = await connection.execute(window, parameters)
        ranks = [_Rank(row.id, bool(row.in_title), float(row.relevance)) for row in rows]
    best_first = [
        row.id for row in sorted(ranks, key=lambda row: (not row.in_title, -row.relevance, -row.id))
    ]

    def ranked(offset: int, limit: int) -> Statement:
        page = best_first[offset : offset + limit]
        order = func.field(Post.id, *page) if page else Post.id
        return statement.where(Post.id.in_(page)).order_by(order)

    return Plan(window, ranked, held.order_by(Post.id.desc()))


# How many more of the newest texts are read than the window holds: room for the texts no post holds any
# more (an edit's old text, a deleted post's), which the purge removes.
_SPARE_TEXTS = 0.25


class _Rank(NamedTuple):
    id: int
    in_title: bool
    relevance: float


async def _newest_texts(
    connection: AsyncConnection,
    relevance: ColumnElement[Any],
    checked: list[ColumnElement[bool]],
    in_title: ColumnElement[bool],
    window: int,
) -> list[_Rank] | None:
    """The newest `window` matches, from the newest matching texts alone (Mroonga orders them by id from its
    index, and stops), those whose post holds them and passes `checked`; None where too few of those do
    to tell.

    They come back as one row, their ids, title hits and relevance joined in a string: reading a
    thousand rows costs the driver (pure Python) more than the search costs the database.
    """
    read = window + max(1, int(window * _SPARE_TEXTS))
    texts = (
        select(_TEXTS.c.id, _TEXTS.c.digest, relevance.label("relevance"))
        .where(relevance)
        .order_by(_TEXTS.c.id.desc())
        .limit(read)
        .subquery("texts")
    )
    held = and_(_holds(texts), *checked)
    entry = case((Post.id.is_not(None), func.concat_ws(" ", texts.c.id, in_title, texts.c.relevance)))
    summary = select(
        func.count().label("read"),
        func.aggregate_strings(entry, ",").label("entries"),
        func.coalesce(func.sum(func.char_length(entry) + 1), 0).label("length"),  # with the separators
    ).select_from(texts.outerjoin(Post, held))
    row = (await connection.execute(summary)).one()
    entries = row.entries or ""
    if len(entries) + bool(entries) != row.length:  # cut short by the server's group_concat_max_len
        return None
    matches = [
        _Rank(int(id_), in_title == "1", float(score))
        for id_, in_title, score in (part.split(" ") for part in entries.split(",") if part)
    ]
    matches.sort(key=lambda match: -match.id)
    if row.read < read or len(matches) >= window:
        return matches[:window]
    return None


_ADD_TEXT = (
    insert(_TEXTS)
    .prefix_with("IGNORE")
    .values(
        id=bindparam("id"),
        digest=func.unhex(bindparam("digest")),
        title=bindparam("title"),
        body=bindparam("body"),
    )
)

# A text is removed once no post holds it and it is this old: a transaction that wrote it may still commit.
TEXT_GRACE_SECONDS = 60 * 60
_RECONCILED_IDS = 10_000


async def reconcile_texts(connection: AsyncConnection) -> int:
    """Where the database has the Mroonga table: remove the texts no post holds (older than
    TEXT_GRACE_SECONDS), and add those the posts hold that it lacks; how many rows changed.

    10,000 ids at a time. The posts are read by plain SELECTs, which take no lock: an INSERT ... SELECT or
    a DELETE with a subquery would lock the posts it reads against writers until the transaction ends.
    """
    if connection.dialect.name != "mysql" or not await has_mroonga_table(connection):
        return 0
    highest = select(
        func.greatest(
            func.coalesce(func.max(Post.id), 0),
            select(func.coalesce(func.max(_TEXTS.c.id), 0)).scalar_subquery(),
        )
    )
    top = (await connection.execute(highest)).scalar_one()
    old = _TEXTS.c.written_at < func.utc_timestamp(6) - literal_column(
        f"INTERVAL {TEXT_GRACE_SECONDS} SECOND"
    )
    changed = 0
    for low in range(0, top + 1, _RECONCILED_IDS):
        high = low + _RECONCILED_IDS
        # The digests go back and forth in hexadecimal: the driver does not send binary parameters.
        unheld = select(_TEXTS.c.id, func.hex(_TEXTS.c.digest)).where(
            _TEXTS.c.id >= low, _TEXTS.c.id < high, old, ~exists().where(_HOLDS_TEXT)
        )
        stale = [tuple(row) for row in await connection.execute(unheld)]
        if stale:
            gone = delete(_TEXTS).where(tuple_(_TEXTS.c.id, func.hex(_TEXTS.c.digest)).in_(stale))
            changed += (await connection.execute(gone)).rowcount
        missing = select(
            Post.id.label("id"),
            func.hex(_digest(Post.title, Post.body)).label("digest"),
            _words(Post.title).label("title"),
            _words(Post.body).label("body"),
        ).where(Post.id >= low, Post.id < high, ~exists().where(_HOLDS_TEXT))
        lacking = [row._asdict() for row in await connection.execute(missing)]
        if lacking:
            changed += (await connection.execute(_ADD_TEXT, lacking)).rowcount
    return changed
