"""scripts/bench_gunicorn_conf.py (the project's configuration and the per-worker request
count), plus a memory snapshot on demand, for scripts/measure_worker_memory.py.

A ``GET /health?memory-snapshot=<label>`` answered by a worker makes its ``post_request`` hook
write, after the response, ``<pid>-<label>.json`` into ``WORKER_MEMORY_SNAPSHOTS``: the worker's
resident set size, its anonymous and file-backed parts, glibc's heap counters (``mallinfo2``),
its thread count and the names in ``sys.modules``. Nothing else changes: every other request only
pays one comparison.
"""

from __future__ import annotations

import ctypes
import json
import os
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

_bench = runpy.run_path(str(Path(__file__).resolve().parent / "bench_gunicorn_conf.py"))
globals().update({name: value for name, value in _bench.items() if not name.startswith("_")})
_count_request = _bench["post_request"]
_PREFIX = "memory-snapshot="


_MALLINFO2 = (
    "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
    "keepcost",
)  # fmt: skip


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _mallinfo() -> dict[str, float]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {name: getattr(info, name) / 2**20 for name in _MALLINFO2}


def _status() -> dict[str, float]:
    """The process's memory lines of /proc/self/status, in MiB."""
    wanted = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData")
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            out[key] = int(value.split()[0]) / 1024
    return out


def _mappings() -> dict[str, dict[str, int]]:
    """Resident, anonymous and transparent-huge-page KiB per mapped file (anonymous mappings
    under ``[anon]``)."""
    out: dict[str, dict[str, int]] = {}
    current = "[anon]"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if "-" in head[0] and not head[0].endswith(":"):
            current = head[5] if len(head) > 5 else "[anon]"
        elif head[0] in ("Rss:", "Anonymous:", "AnonHugePages:"):
            entry = out.setdefault(current, {"Rss": 0, "Anonymous": 0, "AnonHugePages": 0})
            entry[head[0][:-1]] += int(head[1])
    return out


def snapshot(label: str) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "label": label,
        "status": _status(),
        "mallinfo": _mallinfo(),
        "threads": threading.active_count(),
        "modules": sorted(sys.modules),
        "mappings": _mappings(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    _count_request(worker, req, environ, resp)
    if req.path == "/health" and req.query.startswith(_PREFIX):
        label = req.query[len(_PREFIX) :]
        target = Path(os.environ["WORKER_MEMORY_SNAPSHOTS"]) / f"{os.getpid()}-{label}.json"
        target.write_text(json.dumps(snapshot(label)))
