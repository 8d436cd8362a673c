"""The composition root (app/bootstrap.py) loads an AWS SDK only for the adapters the settings
configure: an API worker with local storage, the local scanner, console email and the log
notifier never imports boto3 or botocore (about 5 MB per worker). S3 storage and the Lambda
notifier load botocore alone (its clients on pruned data, app/integrations/aws.py), not boto3,
and no AWS adapter brings pyOpenSSL (about 1 MB per worker).

Each build runs in a fresh interpreter, so what other tests imported cannot hide an import.
Building the app opens no database connection (the pools connect on first use), so no server
is needed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AWS_SDKS = ("boto3", "botocore")

# Builds the API (the WSGI app, as gunicorn's worker does, without its background thread) from
# the settings given as JSON, then names those of the packages given as JSON that were imported.
BUILD_AND_REPORT = """
import json, sys
from app.core.settings import Settings
from app.main import create_app
create_app(Settings.from_env(json.loads(sys.argv[1])))
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""

NO_AWS_ADAPTER = {
    "APP_ENV": "test",
    "JWT_SECRET": "composition-root-test-secret-0123456789abcdefghijklmnop",
    "DB_HOST": "127.0.0.1",
    "DB_APP_PASSWORD": "unused-no-connection-is-opened",
    "STORAGE_BACKEND": "local",
    "SCANNER": "local",
    "EMAIL_PROVIDER": "console",
    "LOG_LEVEL": "WARNING",
}


def sdks_loaded_by_api(overrides: dict[str, str], watched: tuple[str, ...] = AWS_SDKS) -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD_AND_REPORT,
            json.dumps({**NO_AWS_ADAPTER, **overrides}),
            json.dumps(watched),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_api_with_no_aws_adapter_never_imports_an_aws_sdk():
    assert sdks_loaded_by_api({}) == []


AWS_ADAPTERS = [
    (
        {
            "STORAGE_BACKEND": "s3",
            "UPLOADS_BUCKET": "jat-test-uploads",
            "AWS_REGION": "eu-west-1",
            "SCANNER": "guardduty",
        },
        ["botocore"],
    ),
    (
        {
            "EMAIL_PROVIDER": "ses",
            "FROM_EMAIL": "noreply@jat.example",
            "AWS_REGION": "eu-west-1",
        },
        sorted(AWS_SDKS),
    ),
    (
        {"SLACK_LAMBDA_FUNCTION_NAME": "jat-test-slack-notify", "AWS_REGION": "eu-west-1"},
        ["botocore"],
    ),
]
AWS_ADAPTER_IDS = ["s3-storage", "ses-email", "lambda-notifier"]


@pytest.mark.parametrize("adapter,sdks", AWS_ADAPTERS, ids=AWS_ADAPTER_IDS)
def test_an_aws_adapter_that_is_configured_brings_its_sdk(adapter, sdks):
    assert sdks_loaded_by_api(adapter) == sdks


@pytest.mark.parametrize("adapter,sdks", AWS_ADAPTERS, ids=AWS_ADAPTER_IDS)
def test_no_aws_adapter_brings_pyopenssl(adapter, sdks):
    """botocore's HTTP layer is imported without urllib3's pyOpenSSL shim, whichever adapter
    imports botocore first (app/integrations/aws.py, ``import_botocore``)."""
    assert sdks_loaded_by_api(adapter, ("OpenSSL", "urllib3.contrib.pyopenssl")) == []


def test_an_api_worker_does_not_load_webauthn_until_a_passkey_operation_runs():
    """``webauthn`` (with cbor2, pyOpenSSL, asn1crypto) is imported inside the passkey
    service's functions; building the API, routes and services included, leaves it out."""
    script = """
import json, sys
from app.core.settings import Settings
from app.main import create_app
import app.services.passkeys
create_app(Settings.from_env(json.loads(sys.argv[1])))
print(json.dumps(sorted(n for n in ("webauthn", "cbor2", "OpenSSL") if n in sys.modules)))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(NO_AWS_ADAPTER)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
