"""The server collects cyclic garbage less often while it serves, and puts things back when it stops."""

import gc

from inkwell.config import Settings
from inkwell.main import create_app


async def test_serving_raises_the_collection_threshold_and_restores_it(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"gc_threshold": 12_345}))
    before = gc.get_threshold()

    async with app.router.lifespan_context(app):
        serving = gc.get_threshold()
        frozen = gc.get_freeze_count()

    assert serving == (12_345, before[1], before[2])
    assert frozen > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
