"""A build that forks pass-1 workers reads, in the build's exported snapshot, exactly what one process
reads: the same files, stats and rejects. The rows are committed (the workers' own connections cannot
see a test transaction's rows); the organization is deleted afterwards."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.models import Dataset, DatasetReject
from tests.fixtures.datasets import add_tm_units, add_translations, at, clean_pairs, create_dataset
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_project, create_prompt, create_translation_memory


def _same_rows_stats(dataset: Dataset) -> dict[str, object]:
    return {
        key: value for key, value in (dataset.stats or {}).items() if key not in ("timings", "build_seconds")
    }


async def test_forked_workers_build_what_one_process_builds(engine: AsyncEngine, settings: Settings) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Forked Build Inc")
        project = await create_project(session, org.id)
        prompt = await create_prompt(session, org.id)
        pairs = clean_pairs(90)
        # Newer translations of early sources (they win across the id split), and dirty rows.
        await add_translations(session, project, pairs[:60], key_prefix="a")
        newer = [
            (source, target + " neu", at(500 + index)) for index, (source, target) in enumerate(pairs[:20])
        ]
        await add_translations(session, project, newer, key_prefix="b")
        dirty = [("Open {0}", "Öffnen"), ("Close", ""), *pairs[60:]]
        await add_translations(session, project, dirty, key_prefix="c")
        memory = await create_translation_memory(session, org.id)
        await add_tm_units(session, memory, clean_pairs(30, start=200))
    forked_options = settings.datasets.model_copy(update={"build_processes": 3, "parallel_min_rows": 0})
    alone_options = settings.datasets.model_copy(update={"build_processes": 1})
    try:
        built = {}
        for name, options in (("alone", alone_options), ("forked", forked_options)):
            async with transaction(sessionmaker) as session:
                dataset = await create_dataset(
                    session, settings.model_copy(update={"datasets": options}), org.id,
                    project_ids=[project.id], sources={"translation_memory_ids": [memory.id]},
                    prompt_id=prompt.id, validation={"fraction": 0.2},
                )  # fmt: skip
                found = select(DatasetReject.row_id, DatasetReject.reason)
                rejects = await session.execute(found.where(DatasetReject.dataset_id == dataset.id))
                built[name] = (dataset, sorted((row_id, reason) for row_id, reason in rejects.all()))
        (alone, alone_rejects), (forked, forked_rejects) = built["alone"], built["forked"]
        assert alone.status == forked.status == "ready", forked.error
        assert (
            (alone.stats or {})["timings"]["read_processes"],
            (forked.stats or {})["timings"]["read_processes"],
        ) == (1, 3)
        assert forked.content_hash == alone.content_hash
        assert _same_rows_stats(forked) == _same_rows_stats(alone)
        assert forked_rejects == alone_rejects
        assert {reason for _, reason in alone_rejects} >= {
            "superseded",
            "empty_target",
            "placeholder_mismatch",
        }
    finally:
        async with transaction(sessionmaker) as session:
            await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
