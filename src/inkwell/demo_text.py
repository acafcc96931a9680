"""Demo data's accounts and text: people's names, and posts on a dozen subjects that search can tell
apart.

Made from the word lists below, by a random generator seeded with what the text is for (a user's number, a
batch of posts), so that the same seed always writes the same text and nothing is fetched. Each subject has
words of its own: `q=sourdough` finds the posts about baking and no others, `q=telescope OR comet` the
ones about the night sky.
"""

import random
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoRun:
    """One run of the seed: a tag that keeps its emails apart from every earlier run's, and the hash of
    the password its users share (None: they have no password)."""

    password_hash: str | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(4))

    def email(self, number: int) -> str:
        return f"demo-{self.tag}-{number}@example.com"


@dataclass(frozen=True)
class Subject:
    name: str
    things: tuple[str, ...]  # nouns that only this subject's posts use
    doings: tuple[str, ...]  # what one does with them, "-ing" forms


SUBJECTS = (
    Subject(
        "baking",
        ("sourdough", "starter", "crumb", "rye loaf", "baguette", "croissant", "levain", "brioche"),
        ("proofing", "kneading", "scoring", "laminating"),
    ),
    Subject(
        "the night sky",
        ("telescope", "comet", "nebula", "eclipse", "meteor shower", "star chart", "planisphere"),
        ("stargazing", "observing", "astrophotographing"),
    ),
    Subject(
        "cycling",
        ("derailleur", "gravel bike", "chainring", "saddle", "peloton", "velodrome", "inner tube"),
        ("climbing", "commuting", "bikepacking"),
    ),
    Subject(
        "gardening",
        ("compost", "tomato", "seedling", "raised bed", "mulch", "perennial", "greenhouse", "trellis"),
        ("pruning", "sowing", "transplanting", "weeding"),
    ),
    Subject(
        "chess",
        ("gambit", "endgame", "rook", "bishop pair", "zugzwang", "opening repertoire", "checkmate"),
        ("castling", "sacrificing", "blitzing"),
    ),
    Subject(
        "coffee",
        ("espresso", "pour-over", "grinder", "crema", "roast profile", "cold brew", "portafilter"),
        ("brewing", "tamping", "cupping", "roasting"),
    ),
    Subject(
        "sailing",
        ("spinnaker", "keel", "mainsail", "mooring", "tiller", "jib", "regatta", "anchorage"),
        ("tacking", "reefing", "gybing", "navigating"),
    ),
    Subject(
        "birdwatching",
        ("warbler", "binoculars", "heron", "kingfisher", "migration", "field guide", "osprey"),
        ("birding", "ringing", "twitching"),
    ),
    Subject(
        "jazz",
        ("saxophone", "bebop", "trumpet", "double bass", "chord changes", "standard", "big band"),
        ("improvising", "comping", "swinging", "transcribing"),
    ),
    Subject(
        "typography",
        ("typeface", "kerning", "serif", "ligature", "baseline grid", "letterpress", "glyph"),
        ("typesetting", "hyphenating", "lettering"),
    ),
    Subject(
        "beekeeping",
        ("beehive", "honeycomb", "queen bee", "smoker", "propolis", "swarm", "beeswax", "nectar"),
        ("overwintering", "extracting", "requeening"),
    ),
    Subject(
        "mountaineering",
        ("crampons", "ice axe", "summit", "glacier", "belay", "base camp", "ridge", "carabiner"),
        ("acclimatising", "abseiling", "scrambling"),
    ),
)

TITLES = (
    "Notes on the {thing}",
    "What {doing} taught me about the {thing}",
    "A beginner's guide to {doing}",
    "The {thing}, the {thing2} and a long weekend",
    "Why I keep coming back to {doing}",
    "The {thing} I wish I had known about sooner",
    "Ten years of {doing}",
    "{doing} in the rain: a report",
    "On the {thing} and the {thing2}",
    "Is the {thing} worth it?",
)
SENTENCES = (
    "I started {doing} three years ago, and the {thing} still surprises me.",
    "Nobody tells you how much the {thing} matters until the {thing2} goes wrong.",
    "This week was mostly {doing}, with a detour through the {thing}.",
    "A friend lent me their {thing}, and I have not given it back yet.",
    "My advice for anyone new to {subject}: learn about the {thing} before the {thing2}.",
    "The club meets on Thursdays to talk about {doing}, the {thing} and little else.",
    "After a month of {doing}, I finally understand why people love {subject}.",
    "The old books on {subject} say the {thing} comes first; I am not so sure.",
    "Half of {subject} is patience, and the other half is the {thing}.",
    "Next time I will try {doing} with the {thing2} instead.",
)
# How many sentences a body has, at least and at most.
SHORTEST, LONGEST = 2, 4

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus",
    "Radia", "Dennis", "Karen", "John", "Hedy", "Tim", "Sophie", "Linus", "Annie", "Guido",
    "Mary", "Bjarne", "Jean", "Claude", "Katherine", "Leslie", "Evelyn", "Yukihiro", "Shafi", "Vint",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Wirth", "Perlman", "Ritchie", "Sparck Jones", "McCarthy", "Lamarr", "Berners-Lee", "Wilson",
    "Torvalds", "Easley", "van Rossum", "Keller", "Stroustrup", "Sammet", "Shannon", "Johnson",
    "Lamport", "Boyd", "Matsumoto", "Goldwasser", "Cerf",
)  # fmt: skip


def person_name(seed: str) -> str:
    """A first and a last name, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 (demo text, not a secret)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


@dataclass(frozen=True)
class PostText:
    title: str
    body: str
    subject: str


class PostWriter:
    """Writes posts one after another from a seeded generator: the same seed, the same posts.

    About 10 microseconds a post: `inkwell seed` writes millions.
    """

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (demo text, not a secret)

    def post(self) -> PostText:
        subject = self.rng.choice(SUBJECTS)
        words = self._words(subject)
        title = self.rng.choice(TITLES).format_map(words)
        # Consecutive sentences from a random start: no sentence twice in a body.
        first = self.rng.randrange(len(SENTENCES))
        count = SHORTEST + first % (LONGEST - SHORTEST + 1)
        body = " ".join([SENTENCES[(first + n) % len(SENTENCES)].format_map(words) for n in range(count)])
        return PostText(title=title[0].upper() + title[1:], body=body, subject=subject.name)

    def _words(self, subject: Subject) -> dict[str, str]:
        """Two things and a doing of the subject, for one post's title and sentences."""
        # One draw of random bits for the three: a call to the generator costs more than arithmetic.
        bits = self.rng.getrandbits(32)
        things, doings = subject.things, subject.doings
        at, bits = bits % len(things), bits // len(things)
        other, bits = (at + 1 + bits % (len(things) - 1)) % len(things), bits // (len(things) - 1)
        return {
            "thing": things[at],
            "thing2": things[other],
            "doing": doings[bits % len(doings)],
            "subject": subject.name,
        }
