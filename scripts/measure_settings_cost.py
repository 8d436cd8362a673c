"""Measure what reading the settings costs, and what pydantic-settings would add.

    uv run python scripts/measure_settings_cost.py

pydantic-settings is no runtime dependency; the dev group has it (openapi-spec-validator needs
it), so the comparison runs in the development environment as it is.

Prints the resident set size of a process that has imported what an API worker imports
(app.main; pydantic is already there, through spectree), the time ``Settings.from_env`` takes,
and, when pydantic-settings is installed, what importing it adds to that process and how long
it takes to import in a fresh process that has not loaded pydantic (a Lambda handler's cold
start: the handlers import no pydantic). docs/security.md records the figures.
"""

from __future__ import annotations

import gc
import importlib.util
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, for app

COLD_IMPORT = (
    "import time; started = time.perf_counter(); import pydantic_settings; "
    "print((time.perf_counter() - started) * 1000)"
)


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def main() -> None:
    import app.main  # noqa: F401 - the API worker's imports
    from app.core.settings import Settings

    started = time.perf_counter()
    for _ in range(200):
        Settings.from_env({})
    each_us = (time.perf_counter() - started) / 200 * 1_000_000
    gc.collect()
    base = rss_mib()
    print(f"RSS with the API worker's imports: {base:.1f} MiB")
    print(f"Settings.from_env (declaration table): {each_us:.0f} us per call")
    if importlib.util.find_spec("pydantic_settings") is None:
        print("pydantic-settings is not installed: uv run --with pydantic-settings adds it")
        return
    import pydantic_settings  # noqa: F401

    gc.collect()
    print(f"RSS after importing pydantic_settings: {rss_mib():.1f} MiB (+{rss_mib() - base:.1f})")
    cold = subprocess.run(
        [sys.executable, "-c", COLD_IMPORT], capture_output=True, text=True, check=True
    )
    print(f"pydantic_settings import in a fresh process: {float(cold.stdout):.0f} ms")


if __name__ == "__main__":
    main()
