"""Search queries in web-search syntax, parsed once into a small tree that `posts.fulltext` renders for
each database.

- words are all required: `cloves nutmeg`;
- `"a quoted phrase"` needs its words together and in that order (an unclosed quote runs to the end);
- `-word` and `-"a phrase"` exclude;
- `OR` (in capitals) between two words or phrases accepts either: `tea OR coffee`.

Anything else is literal. A word is a run of letters and digits: punctuation separates words, so a term
that holds several (`e-mail`, `example.com`, `3.14`) is a phrase of them. Case does not matter. A query with
no word to look for (only punctuation, or only exclusions) matches nothing.
"""

import re
from dataclasses import dataclass

MAX_QUERY_LENGTH = 200

# Letters and digits; `_` and everything else separates words, as it does in every engine's tokenizer.
_WORD = re.compile(r"[^\W_]+")
# One item: an optional `-`, then a quoted phrase (closed or not) or a run of anything but space and quotes.
_ITEM = re.compile(r'(?P<minus>-?)(?:"(?P<quoted>[^"]*)"?|(?P<bare>[^\s"]+))')
_OR = "OR"


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear together and in this order; a single word is a phrase of one."""

    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every group is required (a post matches one of its phrases); no excluded phrase may match."""

    required: tuple[tuple[Phrase, ...], ...]
    excluded: tuple[Phrase, ...]

    @property
    def matches_nothing(self) -> bool:
        return not self.required

    @property
    def phrases(self) -> tuple[Phrase, ...]:
        """Every phrase of the query, looked for or excluded, once each, in order."""
        return tuple(
            dict.fromkeys([*(phrase for group in self.required for phrase in group), *self.excluded])
        )

    @property
    def wanted(self) -> tuple[Phrase, ...]:
        """Every phrase looked for, once each, in order: a title that holds one ranks first."""
        return tuple(dict.fromkeys(phrase for group in self.required for phrase in group))


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed query and the bounds of the work it may cost.

    `window`: how many of the newest matches are ranked (the rest follow newest first); `scan_rows`: on
    MariaDB, how many of the newest posts are read for words too common for its index to serve.
    """

    query: SearchQuery
    window: int
    scan_rows: int


@dataclass(frozen=True, slots=True)
class _Item:
    phrase: Phrase | None  # None: the OR operator
    excluded: bool = False


def parse_query(text: str) -> SearchQuery:
    """The query's tree."""
    required: list[list[Phrase]] = []
    excluded: list[Phrase] = []
    items = _items(text)
    for index, item in enumerate(items):
        if item.phrase is None:
            continue  # an operator, joined below
        if item.excluded:
            excluded.append(item.phrase)
        elif index and items[index - 1].phrase is None:  # after a joining OR
            required[-1].append(item.phrase)
        else:
            required.append([item.phrase])
    return SearchQuery(tuple(tuple(dict.fromkeys(group)) for group in required), tuple(excluded))


def _items(text: str) -> list[_Item]:
    """The query's items; an `OR` that joins nothing is the word "or"."""
    items: list[_Item] = []
    for match in _ITEM.finditer(text):
        bare = match["bare"]
        if bare == _OR and not match["minus"]:
            items.append(_Item(None))
            continue
        words = tuple(_WORD.findall((match["quoted"] if bare is None else bare).lower()))
        if words:
            items.append(_Item(Phrase(words), excluded=bool(match["minus"])))
    return [
        _Item(Phrase(("or",))) if item.phrase is None and not _joins(items, index) else item
        for index, item in enumerate(items)
    ]


def _joins(items: list[_Item], index: int) -> bool:
    """Whether the `OR` at `index` stands between two phrases looked for."""
    before, after = items[index - 1] if index else None, items[index + 1] if index + 1 < len(items) else None
    return all(
        neighbour is not None and neighbour.phrase is not None and not neighbour.excluded
        for neighbour in (before, after)
    )
