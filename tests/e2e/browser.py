"""A production-shaped browser setup: the static page on https://app.jat.test and the API under
gunicorn on https://api.jat.test, two hosts of one site, both mapped to 127.0.0.1 inside headless
Chromium. The certificate authority is made by trustme at test time and trusted through an NSS
database in a throwaway HOME, so Chromium verifies the chain and the host names for real."""

from __future__ import annotations

import functools
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from app.core.local_postgres import free_port

REPO = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "static"
CHROMIUM = "/usr/bin/chromium"
SITE = "jat.test"
APP_HOST = f"app.{SITE}"
API_HOST = f"api.{SITE}"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    f"--host-resolver-rules=MAP *.{SITE} 127.0.0.1",
]


def running_in_ci() -> bool:
    """CI=true turns a missing browser tool into a failure: CI must never skip this test."""
    return os.environ.get("CI") == "true"


def require_executable(path_or_name: str, apt_package: str) -> str:
    """The executable's path; otherwise skip locally and fail in CI, naming the package."""
    found = shutil.which(path_or_name)
    if found:
        return found
    reason = f"{path_or_name} not found: install the Debian package {apt_package}"
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)")
    pytest.skip(reason)


@dataclass
class Certificates:
    ca: trustme.CA
    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_pem, self.key_pem)
        return context


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        return


class PageServer:
    """The frontend's stand-in: the static directory over HTTPS from a stdlib server thread."""

    def __init__(self, tls: Certificates):
        handler = functools.partial(_StaticHandler, directory=str(STATIC))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.socket = tls.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.origin = f"https://{APP_HOST}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class ApiServer:
    """The API as production runs it: gunicorn with app/gunicorn_conf.py, here with TLS."""

    def __init__(
        self, env: dict[str, str], tls: Certificates, log_path: Path, host: str = API_HOST
    ):
        self.port = free_port()
        self.host = host
        self.origin = f"https://{host}:{self.port}"
        self.tls_context = tls.client_context()
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "app/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--certfile",
                str(tls.cert_pem),
                "--keyfile",
                str(tls.key_pem),
                "app.main:app",
            ],
            cwd=REPO,
            env={"PATH": os.environ["PATH"], **env, "API_URL": self.origin},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy:\n{self.output()}")

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One HTTPS request to 127.0.0.1, verified as the server's host against the test CA."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        connection.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)
        try:
            payload = None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers={**sent, **(headers or {})})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
