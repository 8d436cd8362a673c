"""Measure what the same-site check's Public Suffix List costs one process in memory.

    uv run python scripts/measure_site_memory.py

Prints the resident set size before importing app.core.sites and after its first lookup (which
loads the list bundled in the publicsuffixlist package), and the lookup time once loaded.
docs/security.md records the figures.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for app


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def main() -> None:
    before = rss_mib()
    from app.core import sites

    started = time.perf_counter()
    sites.same_site("https://a.co.uk", "https://b.co.uk")
    first_ms = (time.perf_counter() - started) * 1000
    after = rss_mib()
    started = time.perf_counter()
    for _ in range(1000):
        sites.same_site("https://app.example.com", "https://api.example.com")
    warm_us = (time.perf_counter() - started) * 1000
    print(f"RSS before import: {before:.1f} MiB")
    print(f"RSS after first lookup: {after:.1f} MiB (+{after - before:.1f} MiB)")
    print(f"first lookup (loads the list): {first_ms:.1f} ms")
    print(f"same_site once loaded: {warm_us:.1f} us per call")


if __name__ == "__main__":
    main()
