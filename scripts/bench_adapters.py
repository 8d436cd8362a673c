"""The production adapters for the benchmarks, against local stubs: S3 storage and the Lambda
notifier against moto's server, the Resend email provider against a small HTTP stub. Production
always loads these (STORAGE_BACKEND must be s3 there, and email goes to a real provider), so a
worker's memory is measured with them loaded."""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchkit import free_port, wait_until

BUCKET = "jobapptracker-bench-uploads"
REGION = "eu-west-1"


class _ResendStub(BaseHTTPRequestHandler):
    """Accepts every POST /emails as Resend does: 200 with the new email's id."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"id": str(uuid.uuid4())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def _moto_up(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):  # noqa: S310
        return True


@contextlib.contextmanager
def production_adapters() -> Iterator[dict[str, str]]:
    """The environment that selects the production adapters, with their stubs running."""
    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    resend = ThreadingHTTPServer(("127.0.0.1", 0), _ResendStub)
    threading.Thread(target=resend.serve_forever, daemon=True).start()
    try:
        if not wait_until(lambda: _moto_up(moto_port)):
            raise SystemExit("moto's server did not start")
        endpoint = f"http://127.0.0.1:{moto_port}"
        # moto's documented placeholder credentials: the stub accepts any, AWS is never reached.
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - a local stub's placeholder
            "AWS_REGION": REGION,
            "STORAGE_BACKEND": "s3",
            "UPLOADS_BUCKET": BUCKET,
            "SLACK_LAMBDA_FUNCTION_NAME": "jobapptracker-bench-slack-notify",
            "EMAIL_PROVIDER": "resend",
            "RESEND_API_KEY": "re_bench_placeholder",
            "RESEND_API_URL": f"http://127.0.0.1:{resend.server_address[1]}",
            "FROM_EMAIL": "bench@example.com",
        }
        # Imported by name: boto3 ships no type information.
        boto3 = importlib.import_module("boto3")
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - a local stub's placeholder
        )
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        # Versioned, as the stacks' uploads bucket is (complete records the object's version).
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield env
    finally:
        resend.shutdown()
        moto.terminate()
        moto.wait(30)
