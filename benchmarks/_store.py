"""A data dir with the sample corpus ingested, for the benchmarks that ask questions."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _machine import SAMPLE, log


def sample_data_dir(given: Path | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """``given`` if it holds an ingested store, else a temporary one with the sample ingested.

    The caller keeps the returned TemporaryDirectory alive (and cleans it up) when one is made.
    """
    from assistant.config import Settings
    from assistant.service import open_library
    from assistant.sources import parse_file

    if given is not None and (given / "chroma").is_dir():
        return given, None
    tmp = None
    if given is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-store-")
        given = Path(tmp.name)
    log(f"ingesting the sample corpus into {given} (once; pass --data-dir to reuse it)")
    parsed = parse_file(SAMPLE)
    with open_library(Settings(data_dir=given), write=True) as lib:
        lib.ingest(parsed.papers, rejected=parsed.rejected)
    return given, tmp
