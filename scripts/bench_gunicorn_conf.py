"""app/gunicorn_conf.py, plus a count of the requests each worker answered, for scripts/bench.py.

Every setting and hook of the project's configuration is taken as it is; this adds gunicorn's
``post_worker_init`` and ``post_request`` hooks, which write (pid, requests answered), once the worker has loaded the app, into the worker's
slot of a small file that every worker maps (``BENCH_WORKER_COUNTS``). The benchmark maps the same
file and reads the split per worker between runs, without asking the server anything.
"""

from __future__ import annotations

import mmap
import os
import runpy
import struct
from pathlib import Path
from typing import Any

_base = runpy.run_path(str(Path(__file__).resolve().parents[1] / "app" / "gunicorn_conf.py"))
globals().update({name: value for name, value in _base.items() if not name.startswith("_")})

SLOT = struct.Struct("qq")
SLOTS = 64
_counter: dict[str, Any] = {}


def post_worker_init(worker: Any) -> None:  # gunicorn's Worker (gunicorn ships no types)
    handle = os.open(os.environ["BENCH_WORKER_COUNTS"], os.O_RDWR)
    view = mmap.mmap(handle, SLOT.size * SLOTS)
    os.close(handle)
    offset = (worker.age % SLOTS) * SLOT.size
    SLOT.pack_into(view, offset, os.getpid(), 0)
    _counter.update(view=view, offset=offset + 8, answered=0)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    answered = _counter["answered"] + 1
    _counter["answered"] = answered
    struct.pack_into("q", _counter["view"], _counter["offset"], answered)


def read_counts(path: str) -> dict[int, int]:
    """pid -> requests answered, for every worker that has started."""
    data = Path(path).read_bytes()
    counts = {}
    for index in range(SLOTS):
        pid, answered = SLOT.unpack_from(data, index * SLOT.size)
        if pid:
            counts[pid] = answered
    return counts
