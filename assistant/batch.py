"""A TL;DR batch with several papers in flight, for a model server that runs requests side by
side (``assistant tldr --concurrency N``, ``model_slots``).

What a one-at-a-time batch promises still holds: papers already current in the journal are
reused, each finished TL;DR is kept (``journal.append``, from this thread only) as soon as it is
done, so a killed batch loses at most the papers in flight, and ``on_done`` sees the papers in
input order (a finished paper waits for the ones before it). The first error stops the batch:
papers not started are cancelled, those in flight finish and are kept, then the error is raised.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence

from assistant.protocols import TldrStore
from assistant.types import Paper, Tldr

__all__ = ["run_tldr_batch"]


def run_tldr_batch(
    papers: Sequence[Paper],
    *,
    write: Callable[[Paper], Tldr],
    journal: TldrStore,
    provenance: dict[str, str],
    concurrency: int,
    on_done: Callable[[Tldr, bool], None] | None = None,
    persist: bool = True,
) -> list[Tldr]:
    """TL;DRs for ``papers`` in order; ``write(paper)`` runs in up to ``concurrency`` threads."""
    done: dict[int, tuple[Tldr, bool]] = {}
    todo: list[int] = []
    records = journal.records
    for i, paper in enumerate(papers):
        if journal.is_current(paper, provenance):
            done[i] = (records[paper.paper_id], True)
        else:
            todo.append(i)
    reported = 0

    def report() -> None:
        nonlocal reported
        while reported in done:
            if on_done is not None:
                on_done(*done[reported])
            reported += 1

    report()
    if todo:
        pool = cf.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="tldr")
        futures = {pool.submit(write, papers[i]): i for i in todo}
        try:
            for future in cf.as_completed(futures):
                record = future.result()
                if persist:
                    journal.append(record)
                done[futures[future]] = (record, False)
                report()
        finally:
            # on an error (or Ctrl-C) nothing new starts; what runs finishes before we return
            pool.shutdown(wait=True, cancel_futures=True)
            finished = [
                f
                for f, i in futures.items()
                if i not in done and f.done() and not f.cancelled() and f.exception() is None
            ]
            for future in finished if persist else ():
                journal.append(future.result())
    return [done[i][0] for i in range(len(papers))]
