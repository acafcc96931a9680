"""Progress of the CLI's bulk commands: a rich bar on a terminal, plain lines otherwise (logs, CI)."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]
PLAIN_STEPS = 10  # plain output reports every tenth of the way


@contextmanager
def progress(description: str, total: int, *, unit: str) -> Iterator[Advance]:
    """Yield `advance(n)`; report on stderr as the work goes."""
    console = Console(stderr=True)
    if console.is_terminal:
        with _bar(console) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    yield _plain_lines(description, total, unit)


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _plain_lines(description: str, total: int, unit: str) -> Advance:
    done = 0
    reported = 0

    def advance(n: int) -> None:
        nonlocal done, reported
        done += n
        step = done * PLAIN_STEPS // total if total else PLAIN_STEPS
        if step > reported or done == total:
            reported = step
            print(f"{description}: {done}/{total} {unit}", file=sys.stderr, flush=True)

    return advance
