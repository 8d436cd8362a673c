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
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from app.core.local_gunicorn import LocalGunicorn
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

    @classmethod
    def issue(cls, directory: Path, organization: str, *hosts: str) -> Certificates:
        """A new test CA and a leaf certificate for ``hosts``, written as PEM files into
        ``directory`` (ca.pem, cert.pem with the chain, key.pem readable by the owner only)."""
        ca = trustme.CA(organization_name=organization)
        leaf = ca.issue_cert(*hosts)
        ca_pem, cert_pem, key_pem = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
        ca.cert_pem.write_to_path(str(ca_pem))
        leaf.private_key_pem.write_to_path(str(key_pem))
        with cert_pem.open("wb") as chain:
            for blob in leaf.cert_chain_pems:
                chain.write(blob.bytes())
        key_pem.chmod(0o600)
        return cls(ca, ca_pem, cert_pem, key_pem)

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


class ApiServer(LocalGunicorn):
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
        super().__init__(
            {"PATH": os.environ["PATH"], **env, "API_URL": self.origin},
            "--workers",
            "1",
            "--certfile",
            str(tls.cert_pem),
            "--keyfile",
            str(tls.key_pem),
            port=self.port,
            output=self.log,
        )
        try:
            self.wait_until_serving(lambda: self.request("GET", "/health")[0] == 200)
        except RuntimeError as exc:
            raise RuntimeError(f"gunicorn did not become healthy:\n{self.output()}") from exc

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
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 40) -> int:
        try:
            return super().stop(timeout)
        finally:
            self.log.close()
