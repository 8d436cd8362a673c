"""Measure what the passkey library costs an API worker in memory, and when it is paid.

    uv run python scripts/measure_webauthn_memory.py

Builds the API as a gunicorn worker does (``app.main.create_app`` with a local configuration;
no database connection is opened), prints the resident set size, then imports ``webauthn`` as
the first passkey operation does (app/services/passkeys.py imports it inside its functions),
generates registration options, and prints the resident set size again. Each run is a fresh
interpreter. docs/capacity.md records the figures.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for app

CONFIGURATION = {
    "APP_ENV": "test",
    "JWT_SECRET": "measure-webauthn-memory-secret-0123456789abcdefghij",
    "DB_HOST": "127.0.0.1",
    "DB_APP_PASSWORD": "unused-no-connection-is-opened",
    "STORAGE_BACKEND": "local",
    "SCANNER": "local",
    "EMAIL_PROVIDER": "console",
    "LOG_LEVEL": "WARNING",
}


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def main() -> None:
    from app.core.settings import Settings
    from app.main import create_app

    create_app(Settings.from_env(CONFIGURATION))
    built = rss_mib()
    loaded_before = "webauthn" in sys.modules
    started = time.perf_counter()
    from webauthn import generate_registration_options, options_to_json

    import_ms = (time.perf_counter() - started) * 1000
    options_to_json(
        generate_registration_options(rp_id="app.example.com", rp_name="x", user_name="a@b.c")
    )
    after = rss_mib()
    print(f"webauthn loaded by building the API: {loaded_before}")
    print(f"RSS of the built API: {built:.1f} MiB")
    print(f"RSS after importing webauthn and generating options: {after:.1f} MiB")
    print(f"webauthn's cost: +{after - built:.1f} MiB, import {import_ms:.0f} ms")


if __name__ == "__main__":
    main()
