"""Fixtures for the browser tests: the test CA, a HOME whose NSS database trusts it, the page
server, the API under gunicorn and headless Chromium (see tests/e2e/browser.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.browser import (
    API_HOST,
    APP_HOST,
    CHROMIUM,
    CHROMIUM_ARGS,
    ApiServer,
    Certificates,
    PageServer,
    require_executable,
)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Certificates:
    return Certificates.issue(
        tmp_path_factory.mktemp("tls"), "jat browser test", APP_HOST, API_HOST
    )


@pytest.fixture(scope="module")
def browser_home(tls, tmp_path_factory) -> Path:
    """A HOME whose NSS database (~/.pki/nssdb, read by Chromium on Linux) trusts the test CA."""
    certutil = require_executable("certutil", "libnss3-tools")
    home = tmp_path_factory.mktemp("browser-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    for command in (
        [certutil, "-N", "-d", database, "--empty-password"],
        [certutil, "-A", "-d", database, "-n", "jat-test-ca", "-t", "C,,", "-i", tls.ca_pem],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return home


@pytest.fixture(scope="module")
def page_server(tls) -> PageServer:
    server = PageServer(tls)
    yield server
    server.close()


@pytest.fixture(scope="module")
def api_server(db_env, tls, page_server, tmp_path_factory) -> ApiServer:
    env = {
        **db_env,
        "FRONTEND_URL": page_server.origin,
        "REFRESH_COOKIE_SAMESITE": "Lax",
        "TRUSTED_PROXY_HOPS": "0",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
    }
    server = ApiServer(env, tls, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium(browser_home):
    """Headless Chromium from the Debian package, driven by playwright (which downloads
    nothing here: executable_path names the system browser)."""
    executable = require_executable(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": str(browser_home)},
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context()
    yield context
    context.close()
