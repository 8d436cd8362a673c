"""Password-reset answer times for known and unknown addresses, with a slow email provider.

    uv run python scripts/bench_reset_timing.py [--requests 60] [--provider-ms 150]

It starts a throw-away local PostgreSQL with the migrations, seeds accounts, stands up a local
HTTP server in place of Resend's API that takes ``--provider-ms`` to answer each email, and
serves the API with gunicorn (app/gunicorn_conf.py, one worker) over real HTTP with
EMAIL_PROVIDER=resend pointed at that server. It then alternates reset requests for a known and
an unknown address on one keep-alive connection and prints the median answer time of each kind,
and how many emails reached the provider (the known addresses, once the outbox has drained).

If the known median is the unknown one plus the provider's latency, the email is sent on the
request path and the answer time tells whether an account exists (issue 10, item 10).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchkit import default_hasher, free_port, gunicorn, local_database, seed, wait_until


class SlowProvider:
    """Resend's POST /emails, answering 200 after a fixed delay, counting what it accepted."""

    def __init__(self, delay_seconds: float):
        provider = self
        self.delay = delay_seconds
        self.accepted: list[str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(provider.delay)
                with provider._lock:
                    provider.accepted.extend(body.get("to", []))
                payload = json.dumps({"id": str(uuid.uuid4())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def reset_ms(connection: http.client.HTTPConnection, email: str) -> float:
    body = json.dumps({"email": email})
    started = time.perf_counter()
    connection.request(
        "POST",
        "/v1/auth/password-reset",
        body=body,
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.7"},
    )
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 202:
        raise SystemExit(f"reset answered {response.status}; the run is invalid")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="requests of each kind")
    parser.add_argument("--provider-ms", type=float, default=150.0)
    args = parser.parse_args()

    provider = SlowProvider(args.provider_ms / 1000)
    _, hasher = default_hasher()
    with local_database(workers=1, threads=4) as database:
        known = seed(database.config.database_url, hasher, args.requests)
        env = {
            **database.env,
            "EMAIL_PROVIDER": "resend",
            "FROM_EMAIL": "bench@example.com",
            "RESEND_API_KEY": "re_bench_not_a_real_key",
            "RESEND_API_URL": provider.url,
        }
        port = free_port()
        server = gunicorn(port, env)
        try:

            def healthy() -> bool:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    probe.request("GET", "/health")
                    return probe.getresponse().status == 200
                finally:
                    probe.close()

            if not wait_until(healthy):
                raise SystemExit("the API did not start")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(5):  # warm up the worker's connections and code paths
                reset_ms(connection, f"warm-{uuid.uuid4().hex[:8]}@example.com")
            known_ms, unknown_ms = [], []
            for email in known:
                known_ms.append(reset_ms(connection, email))
                unknown_ms.append(reset_ms(connection, f"nobody-{uuid.uuid4().hex}@example.com"))
            connection.close()
            wait_until(lambda: len(provider.accepted) >= len(known), seconds=60)
        finally:
            server.terminate()
            server.wait(30)
    provider.close()
    delivered = len(set(provider.accepted) & set(known))
    print(f"provider latency: {args.provider_ms:g} ms; {args.requests} requests of each kind")
    print(f"known address median:   {statistics.median(known_ms):7.1f} ms")
    print(f"unknown address median: {statistics.median(unknown_ms):7.1f} ms")
    print(f"emails the provider accepted for the known addresses: {delivered}/{len(known)}")


if __name__ == "__main__":
    main()
