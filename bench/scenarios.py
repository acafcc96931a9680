"""What the benchmark requests, and from which wrk script."""

from dataclasses import dataclass

from bench.seed import HOT_AUTHORS, Size

PAGE = 50


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    script: str
    args: tuple[str, ...]
    writes: bool = False


def user_scenarios(size: Size) -> list[Scenario]:
    """Every scenario, reads first (so that the writes do not change what the reads see)."""
    last_page = str(size.users - PAGE)
    users = ("1", str(size.users))
    return [
        Scenario("get_user", "GET /users/{id}", "get.lua", ("/users/%d", *users)),
        Scenario("list_users", "GET /users (first page)", "get.lua", ("/users", "1", "1")),
        Scenario(
            "list_users_deep", "GET /users?after= (deep)", "get.lua", (f"/users?after={last_page}", "1", "1")
        ),
        Scenario(
            "list_users_deep_offset",
            "GET /users?offset= (deep)",
            "get.lua",
            (f"/users?offset={last_page}", "1", "1"),
        ),
        Scenario(
            "user_posts", "GET /users/{id}/posts", "get.lua", ("/users/%d/posts", "1", str(HOT_AUTHORS))
        ),
        Scenario("get_post", "GET /posts/{id}", "get.lua", ("/posts/%d", "1", str(size.posts))),
        Scenario("list_posts", "GET /posts (first page)", "get.lua", ("/posts", "1", "1")),
        Scenario("create_user", "POST /users", "create_user.lua", ("{tag}",), writes=True),
        Scenario("create_post", "POST /users/{id}/posts", "create_post.lua", users, writes=True),
        Scenario("patch_user", "PATCH /users/{id}", "patch_user.lua", users, writes=True),
    ]


def growth_scenarios(size: Size) -> list[Scenario]:
    """The requests whose cost must stay flat as the tables grow (and the offset page, which cannot)."""
    keep = {"get_user", "list_users_deep", "list_users_deep_offset", "user_posts"}
    return [scenario for scenario in user_scenarios(size) if scenario.name in keep]


def ceiling_scenario(size: Size) -> Scenario:
    return Scenario("get_user", "GET /users/{id}", "get.lua", ("/users/%d", "1", str(size.users)))


def mixed_scenario(size: Size) -> Scenario:
    return Scenario(
        "mixed", "mixed reads and writes", "mixed.lua", (str(size.users), str(HOT_AUTHORS)), writes=True
    )


def traced_scenarios(size: Size) -> tuple[Scenario, Scenario]:
    """GET /users/{id} on a server without tracing (the default) and on one tracing every request."""
    get_user = ceiling_scenario(size)
    return (
        Scenario("get_user_untraced", "GET /users/{id} (tracing off)", get_user.script, get_user.args),
        Scenario("get_user_traced", "GET /users/{id} (tracing on)", get_user.script, get_user.args),
    )


# Measured again with sign-in on (target `auth`), to show what reading a token and its session costs.
SIGNED_IN_SCENARIOS = ("get_user", "list_users", "create_post", "patch_user")


# The reads the Redis cache serves (INKWELL_REDIS_URL), measured with it and without it. Single users and
# posts are not cached: measured so, they were slower than their primary-key read.
CACHED_READS = ("list_posts", "user_posts")


def cached_scenarios(size: Size) -> list[Scenario]:
    return [scenario for scenario in user_scenarios(size) if scenario.name in CACHED_READS]


# Reads measured alone and again while other connections sign up (target `flood`): each sign-up that
# the limits admit hashes a password with Argon2id at its default cost, which must not starve the reads.
# The reads run on FLOOD_READERS connections, fewer than the flood's. Two shapes: every sign-up from one
# address (past its first few, all refused: a refusal must cost almost nothing), and every sign-up from
# an address of its own, forwarded by a trusted proxy (all admitted to the hashing, whose bound on
# concurrent hashings must leave the reads their share of the cores).
FLOOD_PASSWORD = "bench flood password"  # noqa: S105 (the benchmark's throwaway accounts)
FLOOD_READERS = 8
FLOOD_SHAPES = ("one", "spread")


@dataclass(frozen=True)
class Flood:
    """One shape of the flood: the reads measured during it and the sign-ups that make it."""

    shape: str
    reads: Scenario
    sign_ups: Scenario


def flood_scenarios() -> tuple[Scenario, list[Flood]]:
    """The reads alone, and each shape of the flood: sign-ups, every email new."""
    alone = Scenario("list_posts", "GET /posts (first page)", "get.lua", ("/posts", "1", "1"))
    labels = {"one": "from one address", "spread": "from many addresses"}
    floods = [
        Flood(
            shape,
            Scenario(
                f"flood_{shape}", f"GET /posts, sign-ups {labels[shape]}", "get.lua", ("/posts", "1", "1")
            ),
            Scenario(
                f"flood_{shape}_sign_ups",
                f"POST /users {labels[shape]}",
                "create_user.lua",
                ("{tag}", FLOOD_PASSWORD, shape),
                writes=True,
            ),
        )
        for shape in FLOOD_SHAPES
    ]
    return alone, floods
