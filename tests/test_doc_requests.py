"""The requests the documentation shows work as written, on the API as users get it (sign-in on).

Each `curl` in the docs' shell blocks that writes a JSON body to a route that needs no token is sent to the
app as it stands: a newcomer who pastes it gets what the text around it promises.
"""

import shlex

import httpx

from tests.ops.test_deployment import DOCS, shell_blocks


def curl_commands() -> list[list[str]]:
    """Every curl command in the docs' shell blocks, its continued lines joined, split as the shell would."""
    commands = []
    for text in DOCS.values():
        for block in shell_blocks(text):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["curl"]:
                    commands.append(words)
    return commands


def option_values(words: list[str], *names: str) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in names]


def test_the_docs_show_the_sign_up_with_an_idempotency_key() -> None:
    assert any("Idempotency-Key" in " ".join(words) for words in json_sign_ups())


def json_sign_ups() -> list[list[str]]:
    return [
        words
        for words in curl_commands()
        if "POST" in option_values(words, "-X")
        and any(word.endswith(":8000/users") for word in words)
        and any(value.lower() == "content-type: application/json" for value in option_values(words, "-H"))
    ]


async def test_every_json_sign_up_in_the_docs_signs_up_and_replays(client: httpx.AsyncClient) -> None:
    sign_ups = json_sign_ups()
    assert sign_ups, f"no sign-up with a JSON body in {sorted(map(str, DOCS))}"
    for words in sign_ups:
        headers = dict(value.split(": ", 1) for value in option_values(words, "-H"))
        [body] = option_values(words, "-d", "--data")

        first = await client.post("/users", content=body, headers=headers)
        again = await client.post("/users", content=body, headers=headers)

        assert first.status_code == 201, (" ".join(words), first.text)
        if "Idempotency-Key" in headers:
            assert again.status_code == 201, again.text
            assert again.headers["Idempotent-Replayed"] == "true"
            assert again.content == first.content
