"""The API's AWS clients on botocore's pruned data (app/integrations/aws.py): the same requests,
URLs and signatures as botocore with its full data, real signatures checked by moto, credentials
only from the default provider chain and refreshed before they expire."""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import boto3
import botocore.auth
import botocore.session
import botocore.signers
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.model import OperationNotFoundError

from app.core.local_postgres import free_port
from app.integrations import aws
from app.integrations.storage import S3Storage, content_disposition

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("prune_aws_data", ROOT / "scripts/prune_aws_data.py")
assert _spec is not None and _spec.loader is not None
prune_aws_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prune_aws_data)

BUCKET = "jobapptracker-uploads"
FROZEN = datetime.datetime(2026, 11, 29, 10, 0, 0, tzinfo=datetime.UTC)


def test_the_pruned_files_are_what_the_installed_botocore_gives():
    stale = prune_aws_data.differences()
    assert stale == [], f"run scripts/prune_aws_data.py (stale: {stale})"


def test_the_pruned_models_hold_only_the_operations_the_application_calls():
    s3 = aws.pruned_session().create_client("s3", region_name="eu-west-1")
    assert sorted(s3.meta.service_model.operation_names) == sorted(aws.OPERATIONS["s3"])
    with pytest.raises(OperationNotFoundError):
        s3.meta.service_model.operation_model("PutBucketPolicy")
    with pytest.raises(ValueError, match="no pruned AWS data"):
        aws.client("ec2", "eu-west-1")


def presigned(client) -> tuple[str, dict]:
    """A download URL and an upload form as S3Storage asks for them, at a fixed time."""
    with (
        mock.patch.object(botocore.auth, "get_current_datetime", return_value=FROZEN),
        mock.patch.object(botocore.signers, "get_current_datetime", return_value=FROZEN),
        mock.patch.object(botocore.auth.time, "time", return_value=FROZEN.timestamp()),
    ):
        url = client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": BUCKET,
                "Key": "attachments/0b9d",
                "VersionId": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                "ResponseContentDisposition": content_disposition("cv.pdf"),
                "ResponseContentType": "application/pdf",
            },
            ExpiresIn=300,
        )
        post = client.generate_presigned_post(
            Bucket=BUCKET,
            Key="attachments/0b9d",
            Fields={"Content-Type": "application/pdf"},
            Conditions=[
                {"bucket": BUCKET},
                ["eq", "$key", "attachments/0b9d"],
                ["eq", "$Content-Type", "application/pdf"],
                ["content-length-range", 10, 10],
            ],
            ExpiresIn=600,
        )
    return url, post


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"])
@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"])
def test_presigned_urls_and_forms_are_exactly_botocores_with_its_full_data(
    region, endpoint, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEPRUNED01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret/pruned/example/key")
    full = botocore.session.Session().create_client("s3", region_name=region, endpoint_url=endpoint)
    pruned = aws.pruned_session().create_client("s3", region_name=region, endpoint_url=endpoint)
    assert presigned(pruned) == presigned(full)
    url, post = presigned(pruned)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    assert policy["expiration"] == "2026-11-29T10:10:00Z"  # FROZEN + 600 s: both at one time
    assert "Signature=" in url  # signed (SigV2's Signature or SigV4's X-Amz-Signature)
    assert "signature" in post["fields"] or "x-amz-signature" in post["fields"]


# ----- real signatures against moto ---------------------------------------------------------


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a local server
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def moto_with_signatures() -> Iterator[dict[str, str]]:
    """moto's server in its own process (its IAM check is process-wide), a versioned bucket with
    one object, and an IAM user's key pair; then moto checks the signature of every request."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answering(f"{endpoint}/moto-api/") and time.monotonic() < deadline:
            time.sleep(0.1)
        setup = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        s3, iam = boto3.client("s3", **setup), boto3.client("iam", **setup)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=BUCKET, Key="attachments/a", Body=b"hello", Tagging="scan=clean")
        iam.create_user(UserName="api")
        iam.put_user_policy(
            UserName="api",
            PolicyName="uploads",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="api")["AccessKey"]
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        yield {
            "endpoint": endpoint,
            "key_id": key["AccessKeyId"],
            "secret": key["SecretAccessKey"],
        }
    finally:
        server.terminate()
        server.wait(30)


def storage_with(moto: dict[str, str], secret: str, monkeypatch) -> S3Storage:
    """S3Storage on the pruned client, its key pair from the environment (the default chain)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto["endpoint"])
    return S3Storage(BUCKET, aws.pruned_session().create_client("s3", region_name="us-east-1"))


def test_moto_accepts_the_pruned_clients_signed_calls(moto_with_signatures, monkeypatch):
    storage = storage_with(moto_with_signatures, moto_with_signatures["secret"], monkeypatch)
    latest = storage.latest_version("attachments/a")
    assert latest is not None and latest.size == 5
    assert storage.scan_tag("attachments/a", latest.version_id) is None  # no scan tag: None
    assert storage.delete_all_versions("attachments/none") == 0


def test_moto_refuses_a_wrong_signature(moto_with_signatures, monkeypatch):
    wrong = "x" + moto_with_signatures["secret"][1:]
    storage = storage_with(moto_with_signatures, wrong, monkeypatch)
    with pytest.raises(ClientError) as refused:
        storage.latest_version("attachments/a")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


# ----- credentials: the default chain, refreshed --------------------------------------------


class _ContainerCredentials(BaseHTTPRequestHandler):
    """ECS's container credentials endpoint: each answer a new key pair, expiring in 5 minutes
    (inside botocore's mandatory refresh window, so every use asks again)."""

    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        key_id = f"ASIAEXAMPLE{len(self.served):06d}"
        self.served.append(key_id)
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
        body = json.dumps(
            {
                "AccessKeyId": key_id,
                "SecretAccessKey": f"secret-{key_id}",
                "Token": f"token-{key_id}",
                "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def test_credentials_come_from_the_provider_chain_and_are_refreshed(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ContainerCredentials)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _ContainerCredentials.served = []
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{server.server_port}/creds"
    )
    try:
        storage = S3Storage(
            BUCKET, aws.pruned_session().create_client("s3", region_name="eu-west-1")
        )
        expires = datetime.datetime.now(datetime.UTC)
        urls = [
            storage.presign_download("attachments/a", "v1", "cv.pdf", "text/plain", expires, 60)
            for _ in range(2)
        ]
    finally:
        server.shutdown()
    signed_with = [next(key for key in _ContainerCredentials.served if key in url) for url in urls]
    assert signed_with[0] != signed_with[1], "the expiring credentials were not fetched again"
    assert all(
        f"x-amz-security-token=token-{key}" in url
        for key, url in zip(signed_with, urls, strict=True)
    )


def test_botocores_http_layer_is_imported_without_pyopenssl_and_keeps_the_standard_tls():
    """``aws.import_botocore`` keeps urllib3's pyOpenSSL shim (and with it pyOpenSSL) out of the
    process; botocore then uses ``urllib3.util.ssl_.SSLContext``, the very class the shim would
    have given it, and the shim can still be imported afterwards."""
    script = """
import json, ssl, sys
from app.integrations import aws
aws.import_botocore()
import botocore.httpsession
loaded = "OpenSSL" in sys.modules
import urllib3.contrib.pyopenssl as shim
import urllib3.util.ssl_
print(json.dumps({
    "pyopenssl_loaded_by_botocore": loaded,
    "botocore_context_is_the_standard_one": botocore.httpsession.SSLContext is ssl.SSLContext,
    "the_shim_gives_the_same_class": shim.orig_util_SSLContext is urllib3.util.ssl_.SSLContext,
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "pyopenssl_loaded_by_botocore": False,
        "botocore_context_is_the_standard_one": True,
        "the_shim_gives_the_same_class": True,
    }
