"""A client generated from the served OpenAPI document by openapi-python-client (a maintained
generator, pinned in the dev group) completes the whole user journey through its generated
operations, against gunicorn over TLS, so the Secure refresh cookie round-trips in the ordinary
cookie jar of the client's httpx session. Only the file transfers, which are not operations of
the API (the PUT that `data.upload` describes and the GET of the download's `Location`), are
plain HTTP requests."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import ApiServer, Certificates
from tests.helpers import STRONG_PASSWORD, unique_email

HOST = "127.0.0.1"
FRONTEND = "https://app.jat.test"
PACKAGE = "jat_generated_client"


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Certificates:
    return Certificates.issue(
        tmp_path_factory.mktemp("client-tls"), "jat generated client test", HOST
    )


@pytest.fixture(scope="module")
def api(db_env, tls, tmp_path_factory) -> ApiServer:
    env = {
        **db_env,
        "FRONTEND_URL": FRONTEND,
        # The API is on 127.0.0.1, another site than the frontend: a cross-site cookie.
        "REFRESH_COOKIE_SAMESITE": "None",
        "TRUSTED_PROXY_HOPS": "0",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": str(tmp_path_factory.mktemp("uploads")),
    }
    server = ApiServer(env, tls, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log", host=HOST)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def generated(api, tmp_path_factory):
    """The client package, generated at test time from the document the server serves."""
    status, document = api.request("GET", "/openapi.json")
    assert status == 200
    directory = tmp_path_factory.mktemp("generated")
    spec = directory / "openapi.json"
    spec.write_text(json.dumps(document))
    tools = Path(sys.executable).parent  # the generator formats its output with ruff from here
    result = subprocess.run(
        [
            str(tools / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(directory / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(directory))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_whole_journey_through_the_generated_client(api, tls, generated):
    client_module = generated("client")
    ops = {
        name: generated(f"api.{tag}.{name}")
        for tag, names in {
            "auth": ("register", "login", "refresh_session", "logout"),
            "users": ("get_current_user", "export_account", "delete_account"),
            "applications": (
                "create_application",
                "list_applications",
                "update_application",
                "get_application_stats",
            ),
            "attachments": ("create_attachment", "complete_attachment_upload", "get_attachment")
            + ("download_attachment",),
        }.items()
        for name in names
    }
    models = generated("models")

    client = client_module.Client(
        base_url=api.origin, verify_ssl=tls.client_context(), raise_on_unexpected_status=True
    )
    email = unique_email()

    registered = ops["register"].sync_detailed(
        client=client, body=models.RegisterBody(email=email, password=STRONG_PASSWORD)
    )
    assert registered.status_code == 201 and registered.headers["location"] == "/v1/users/me"
    assert registered.parsed.data.email == email

    login = ops["login"].sync(
        client=client, body=models.LoginBody(email=email, password=STRONG_PASSWORD)
    )
    # An account without a second factor: the session itself, not an MFA challenge.
    assert isinstance(login, models.LoginResponse), login
    assert isinstance(login.data, models.SessionData), login
    jar = client.get_httpx_client().cookies
    assert jar.get("jat_refresh", path="/v1/auth")  # Secure, and kept: the session is TLS

    refreshed = ops["refresh_session"].sync(
        client=client, origin=FRONTEND, x_csrf_token=login.data.csrf_token
    )
    assert isinstance(refreshed, models.SessionResponse), refreshed
    assert refreshed.data.access_token != login.data.access_token
    client = client.with_headers({"Authorization": f"Bearer {refreshed.data.access_token}"})

    me = ops["get_current_user"].sync(client=client)
    assert me.data.email == email and isinstance(me.data.id, uuid.UUID)

    created = []
    for company, status in (("Acme", "applied"), ("Globex", "interviewing"), ("Initech", "offer")):
        response = ops["create_application"].sync_detailed(
            client=client,
            body=models.ApplicationCreate(
                company=company,
                role_title="Engineer",
                status=models.ApplicationCreateStatus(status),
                job_url="https://jobs.example.com/1",
            ),
        )
        assert response.status_code == 201, response.content
        assert response.headers["location"] == f"/v1/applications/{response.parsed.data.id}"
        assert response.headers["etag"] == '"1"'
        created.append(response.parsed.data)

    Status = models.ListApplicationsStatusType0Item
    first = ops["list_applications"].sync(
        client=client,
        status=[Status.APPLIED, Status.OFFER],
        sort=models.ListApplicationsSort.COMPANY,
        limit=1,
    )
    assert [item.company for item in first.data] == ["Acme"]
    assert first.meta.limit == 1 and first.meta.next_cursor
    second = ops["list_applications"].sync(
        client=client,
        status=[Status.APPLIED, Status.OFFER],
        sort=models.ListApplicationsSort.COMPANY,
        limit=1,
        cursor=first.meta.next_cursor,
    )
    assert [item.company for item in second.data] == ["Initech"]

    target = created[1]
    unconditional = ops["update_application"].sync_detailed(
        target.id, client=client, body=models.ApplicationUpdate(notes="no precondition")
    )
    assert unconditional.status_code == 428
    updated = ops["update_application"].sync_detailed(
        target.id,
        client=client,
        body=models.ApplicationUpdate(status=models.ApplicationUpdateStatus.OFFER),
        if_match='"1"',
    )
    assert updated.status_code == 200 and updated.headers["etag"] == '"2"'
    assert updated.parsed.data.status == "offer"

    stats = ops["get_application_stats"].sync(client=client, tz="Europe/Paris")
    assert stats.data.total == 3 and stats.data.by_status["offer"] == 2

    content = b"the generated client's attachment\n"
    started = ops["create_attachment"].sync_detailed(
        created[0].id,
        client=client,
        body=models.AttachmentCreate(
            filename="notes.txt",
            content_type=models.AttachmentCreateContentType.TEXT_PLAIN,
            size=len(content),
        ),
    )
    assert started.status_code == 201, started.content
    attachment = started.parsed.data.attachment
    assert started.headers["location"] == f"/v1/attachments/{attachment.id}"
    upload = started.parsed.data.upload
    assert upload.method == "PUT"
    with httpx.Client(verify=tls.client_context()) as plain:
        put = plain.put(upload.url, content=content, headers=upload.headers.to_dict())
        assert put.status_code == 200, put.text
    completed = ops["complete_attachment_upload"].sync(attachment.id, client=client)
    assert completed.data.status in ("scanning", "clean")
    deadline = time.monotonic() + 60
    while ops["get_attachment"].sync(attachment.id, client=client).data.status != "clean":
        assert time.monotonic() < deadline, "the local scan never finished"
        time.sleep(0.2)
    download = ops["download_attachment"].sync_detailed(attachment.id, client=client)
    assert download.status_code == 302
    with httpx.Client(verify=tls.client_context()) as plain:
        fetched = plain.get(download.headers["location"])
    assert fetched.status_code == 200 and fetched.content == content

    export = ops["export_account"].sync(client=client)
    assert isinstance(export.data, models.ExportOut)
    assert {item.company for item in export.data.applications} == {"Acme", "Globex", "Initech"}
    assert [item.id for item in export.data.attachments] == [attachment.id]

    logout = ops["logout"].sync_detailed(
        client=client, origin=FRONTEND, x_csrf_token=refreshed.data.csrf_token
    )
    assert logout.status_code == 204
    assert client.get_httpx_client().cookies.get("jat_refresh", path="/v1/auth") is None
    after = ops["refresh_session"].sync_detailed(
        client=client, origin=FRONTEND, x_csrf_token=refreshed.data.csrf_token
    )
    assert after.status_code == 401

    deleted = ops["delete_account"].sync_detailed(
        client=client, body=models.DeleteAccountBody(password=STRONG_PASSWORD)
    )
    assert deleted.status_code == 204
    gone = ops["get_current_user"].sync_detailed(client=client)
    assert gone.status_code == 401
