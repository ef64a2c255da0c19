"""One stretch of a large TMX, read in a process of its own for `shared.imports.parallel`.

    python -m shared.imports.stretch_reader '{"fd": 3, "prefix_end": ..., "start": ..., "spool": ...}'

It reads the stored file from the descriptor it inherited, appends each batch (`read_tmx_stretch`'s
rows, rejections, skipped) to the spool file, pickled, and prints the spool's length after each (so
the import can read it as it grows), then one line saying how it ended: `done`, `unreadable` (the
stretch is not well-formed TMX on its own) or `failed: <error>`. It imports only the readers (no
pydantic, SQLAlchemy or asyncpg), so it costs a few MB.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any

from shared.imports.records import ImportFileError
from shared.imports.tmx import Stretch, read_tmx_stretch
from shared.processes import die_with_parent

DONE, UNREADABLE, FAILED = "done", "unreadable", "failed: "
BUFFER_BYTES = 1 << 20


def main(job: dict[str, Any]) -> int:
    die_with_parent(parent=job["parent"])
    try:
        with os.fdopen(job["fd"], "rb") as stream, open(job["spool"], "wb", buffering=BUFFER_BYTES) as spool:
            batches = read_tmx_stretch(
                stream,
                job["prefix_end"],
                Stretch(job["start"], job["end"], job["last"]),
                source_language=job["source_language"],
                max_segment_chars=job["max_segment_chars"],
            )
            for batch in batches:
                pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
                spool.flush()
                print(spool.tell(), flush=True)
    except ImportFileError:
        print(UNREADABLE, flush=True)
    except Exception as error:
        print(f"{FAILED}{type(error).__name__}: {error}".replace("\n", " "), flush=True)
        raise
    else:
        print(DONE, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
