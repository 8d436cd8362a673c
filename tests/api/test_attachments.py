"""Attachments: hostile until scanned. S3 mode against a moto server over real HTTP, local mode
with the filesystem and the in-process scanner, GuardDuty results in their real event shape."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg2
import pytest
import requests
from moto.server import ThreadedMotoServer

from app import bootstrap
from app.core.database import init_database, user_transaction
from app.core.local_postgres import free_port
from app.core.settings import Settings
from app.integrations import aws
from app.integrations.storage import S3Storage
from app.jobs import scan_result
from app.main import create_app
from app.models import Attachment
from app.services.attachments import AttachmentService
from app.services.maintenance import MaintenanceService
from tests.helpers import Browser, FakeClock, Outbox, fast_settings, unique_email

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guardduty"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
BUCKET = "jat-test-uploads"


class RecordingNotifier:
    def __init__(self):
        self.sent: list[tuple[str, str, dict]] = []

    def notify(self, kind, title, fields):
        self.sent.append((kind, title, fields))


@pytest.fixture(scope="module")
def moto_server():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_client(moto_server):
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def app_s3(moto_server, s3_client):
    """The client the application itself uses (app/integrations/aws.py: botocore on its pruned
    data), against the same moto server; ``s3_client`` (boto3, full data) sets up and checks."""
    return aws.pruned_session().create_client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's placeholder
    )


class Env:
    pass


def make_env(settings: Settings, storage=None, **overrides) -> Env:
    env = Env()
    env.clock = FakeClock(datetime.now(UTC))
    env.notifier = RecordingNotifier()
    env.settings = fast_settings(settings, **overrides)
    env.app = create_app(
        env.settings, clock=env.clock, email_sender=Outbox(), storage=storage, notifier=env.notifier
    )
    env.browser = lambda: Browser(env.app, env.settings)
    return env


@pytest.fixture
def s3_env(settings, s3_client, app_s3):
    env = make_env(
        settings,
        storage=S3Storage(BUCKET, app_s3),
        storage_backend="s3",
        scanner="guardduty",
        uploads_bucket=BUCKET,
    )
    env.s3 = s3_client
    env.app_s3 = app_s3
    return env


@pytest.fixture
def local_env(settings, tmp_path):
    return make_env(
        settings,
        storage_backend="local",
        scanner="local",
        local_storage_dir=str(tmp_path / "uploads"),
    )


def signed_in(env) -> Browser:
    browser = env.browser()
    email = unique_email()
    browser.register(email)
    browser.login(email)
    browser.user_id = uuid.UUID(browser.request("GET", "/v1/users/me").json["data"]["id"])
    return browser


def new_application(browser) -> str:
    result = browser.request(
        "POST", "/v1/applications", json={"company": "Acme", "role_title": "Eng"}
    )
    return result.json["data"]["id"]


def start_upload(browser, application_id, content: bytes, name="cv.txt", kind="text/plain"):
    result = browser.request(
        "POST",
        f"/v1/applications/{application_id}/attachments",
        json={"filename": name, "content_type": kind, "size": len(content)},
    )
    assert result.status_code == 201, result.text
    return result.json["data"]


def post_to_s3(upload: dict, content: bytes, kind: str = "text/plain") -> requests.Response:
    """Exactly what `upload` says: a multipart POST with its fields, then the file."""
    assert upload["method"] == "POST"
    return requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("ignored-name", content, kind)},
        timeout=10,
    )


def scan_event(key: str, version_id: str | None, status: str, threats=None) -> dict:
    name = (
        "scan_result_threats_found.json"
        if status == "THREATS_FOUND"
        else "scan_result_no_threats.json"
    )
    event = copy.deepcopy(json.loads((FIXTURES / name).read_text()))
    details = event["detail"]["s3ObjectDetails"]
    details.update(bucketName=BUCKET, objectKey=key, versionId=version_id)
    event["detail"]["scanResultDetails"]["scanResultStatus"] = status
    if status == "THREATS_FOUND":
        event["detail"]["scanResultDetails"]["threats"] = [
            {"name": t} for t in threats or ["EICAR"]
        ]
    else:
        event["detail"]["scanResultDetails"]["threats"] = None
    return event


def jobs_service(env) -> AttachmentService:
    """The scan-result Lambda's own wiring (the jobs database role, S3, the notifier), from the
    composition root."""
    job = bootstrap.scan_result_job(
        env.settings, clock=env.clock, storage=S3Storage(BUCKET, env.app_s3), notifier=env.notifier
    )
    return job.attachments


def maintenance_service(env, settings=None, outbox=None) -> MaintenanceService:
    """The maintenance Lambda's own wiring, from the composition root."""
    job = bootstrap.maintenance_job(
        settings or env.settings,
        clock=env.clock,
        storage=S3Storage(BUCKET, env.app_s3),
        notifier=env.notifier,
        email_sender=outbox or Outbox(),
    )
    return job.maintenance


def deliver(env, event) -> dict:
    from app.core.database import db

    service = jobs_service(env)
    try:
        with db.connection_context():
            return scan_result.run(event, service, BUCKET)
    finally:
        init_database(env.settings.database_url, env.settings)


def uploaded_and_completed(env, content=b"hello, recruiter\n"):
    browser = signed_in(env)
    created = start_upload(browser, new_application(browser), content)
    assert post_to_s3(created["upload"], content).status_code == 204
    attachment_id = created["attachment"]["id"]
    completed = browser.request("POST", f"/v1/attachments/{attachment_id}/complete")
    assert completed.status_code == 200, completed.text
    with user_transaction(browser.user_id):
        attachment = Attachment.get_by_id(uuid.UUID(attachment_id))
    return browser, attachment


def versions(env, key: str) -> list[str]:
    listed = env.s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", [])]


# ----- S3 mode: presigned POST --------------------------------------------------------------


def test_presigned_post_pins_key_size_type_and_expiry(s3_env):
    browser = signed_in(s3_env)
    content = b"%PDF-1.7 a small cv"
    created = start_upload(browser, new_application(browser), content, "CV.pdf", "application/pdf")
    upload, attachment = created["upload"], created["attachment"]
    assert attachment["status"] == "pending_upload"
    assert upload["url"].startswith("http")  # absolute
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    conditions = policy["conditions"]
    key = upload["fields"]["key"]
    assert key.startswith("attachments/") and "CV" not in key  # random, not the file name
    assert ["eq", "$key", key] in conditions
    assert ["eq", "$Content-Type", "application/pdf"] in conditions
    assert ["content-length-range", len(content), len(content)] in conditions
    assert {"bucket": BUCKET} in conditions
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    lifetime = expiration - datetime.now(UTC)
    assert (
        timedelta(seconds=200)
        < lifetime
        <= timedelta(seconds=s3_env.settings.upload_url_ttl_seconds)
    )


def test_real_upload_over_http_then_complete_records_the_version(s3_env):
    browser, attachment = uploaded_and_completed(s3_env)
    assert attachment.status == "scanning"
    assert attachment.version_id == versions(s3_env, attachment.storage_key)[0]
    assert attachment.etag
    again = browser.request("POST", f"/v1/attachments/{attachment.id}/complete")
    assert again.status_code == 200 and again.json["data"]["status"] == "scanning"  # idempotent


def test_complete_before_the_upload_is_409(s3_env):
    browser = signed_in(s3_env)
    created = start_upload(browser, new_application(browser), b"x" * 10)
    result = browser.request("POST", f"/v1/attachments/{created['attachment']['id']}/complete")
    assert result.status_code == 409 and result.json["error"]["code"] == "UPLOAD_NOT_FOUND"


@pytest.mark.parametrize(
    "body,field",
    [
        (
            {"filename": "a.exe", "content_type": "application/x-msdownload", "size": 10},
            "content_type",
        ),
        ({"filename": "a.txt", "content_type": "text/plain", "size": 0}, "size"),
        ({"filename": "a.txt", "content_type": "text/plain", "size": 10 * 1024 * 1024 + 1}, "size"),
        ({"filename": "", "content_type": "text/plain", "size": 5}, "filename"),
    ],
)
def test_upload_requests_are_validated(s3_env, body, field):
    browser = signed_in(s3_env)
    result = browser.request(
        "POST", f"/v1/applications/{new_application(browser)}/attachments", json=body
    )
    assert result.status_code == 422
    assert {d["field"] for d in result.json["error"]["details"]} == {field}


def test_filename_is_sanitised_for_display(s3_env):
    browser = signed_in(s3_env)
    created = start_upload(browser, new_application(browser), b"abc", "../../etc/pa<ss>wd|.txt")
    assert created["attachment"]["filename"] == "pa_ss_wd_.txt"


# ----- scan results -------------------------------------------------------------------------


def test_no_threats_found_makes_it_clean_and_downloads_the_recorded_version(s3_env):
    browser, attachment = uploaded_and_completed(s3_env, b"clean bytes")
    assert browser.request("GET", f"/v1/attachments/{attachment.id}/download").status_code == 409
    assert (
        "download_url"
        not in browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]
    )
    outcome = deliver(
        s3_env, scan_event(attachment.storage_key, attachment.version_id, "NO_THREATS_FOUND")
    )
    assert outcome["outcome"] == "applied" and outcome["status"] == "clean"
    data = browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]
    assert data["status"] == "clean" and data["download_url"]
    redirect = browser.request("GET", f"/v1/attachments/{attachment.id}/download")
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["versionId"] == [attachment.version_id]
    assert query["response-content-disposition"][0].startswith("attachment;")
    if "X-Amz-Expires" in query:  # SigV4
        assert int(query["X-Amz-Expires"][0]) <= s3_env.settings.download_url_ttl_seconds
    else:  # SigV2 carries an absolute expiry
        lifetime = int(query["Expires"][0]) - time.time()
        assert 0 < lifetime <= s3_env.settings.download_url_ttl_seconds + 2
    fetched = requests.get(redirect.headers["location"], timeout=10)
    assert fetched.content == b"clean bytes"


def test_threats_found_deletes_every_version_and_alerts(s3_env):
    browser, attachment = uploaded_and_completed(s3_env, EICAR)
    outcome = deliver(
        s3_env,
        scan_event(
            attachment.storage_key, attachment.version_id, "THREATS_FOUND", ["EICAR-Test-File"]
        ),
    )
    assert outcome["status"] == "infected"
    data = browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]
    assert data["status"] == "infected" and data["threats"] == ["EICAR-Test-File"]
    assert versions(s3_env, attachment.storage_key) == []
    assert s3_env.notifier.sent[-1][0] == "malware_found"
    assert (
        browser.request("GET", f"/v1/attachments/{attachment.id}/download").json["error"]["code"]
        == "ATTACHMENT_NOT_AVAILABLE"
    )


def test_threats_found_deletes_every_version_not_only_the_scanned_one(s3_env):
    """The presigned POST can be replayed until it expires: the key then holds two versions,
    and an infected result for the recorded one removes both."""
    browser = signed_in(s3_env)
    created = start_upload(browser, new_application(browser), EICAR)
    assert post_to_s3(created["upload"], EICAR).status_code == 204
    assert post_to_s3(created["upload"], EICAR).status_code == 204
    attachment_id = created["attachment"]["id"]
    assert browser.request("POST", f"/v1/attachments/{attachment_id}/complete").status_code == 200
    with user_transaction(browser.user_id):
        attachment = Attachment.get_by_id(uuid.UUID(attachment_id))
    stored = versions(s3_env, attachment.storage_key)
    assert len(stored) == 2 and attachment.version_id in stored
    outcome = deliver(
        s3_env, scan_event(attachment.storage_key, attachment.version_id, "THREATS_FOUND")
    )
    assert outcome["status"] == "infected"
    assert versions(s3_env, attachment.storage_key) == []


@pytest.mark.parametrize("status", ["UNSUPPORTED", "ACCESS_DENIED", "FAILED"])
def test_other_results_mark_scan_failed_keep_the_object_and_alert(s3_env, status):
    browser, attachment = uploaded_and_completed(s3_env)
    deliver(s3_env, scan_event(attachment.storage_key, attachment.version_id, status))
    data = browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]
    assert data["status"] == "scan_failed" and "download_url" not in data
    assert versions(s3_env, attachment.storage_key) == [attachment.version_id]
    assert s3_env.notifier.sent[-1][0] == "scan_failed" and status in s3_env.notifier.sent[-1][1]
    assert browser.request("GET", f"/v1/attachments/{attachment.id}/download").status_code == 409


def test_a_duplicate_delivery_changes_nothing(s3_env):
    _, attachment = uploaded_and_completed(s3_env)
    event = scan_event(attachment.storage_key, attachment.version_id, "NO_THREATS_FOUND")
    assert deliver(s3_env, event)["outcome"] == "applied"
    with user_transaction(attachment.owner_id):
        first = Attachment.get_by_id(attachment.id)
    s3_env.clock.advance(seconds=30)
    assert deliver(s3_env, event)["outcome"] == "duplicate"
    with user_transaction(attachment.owner_id):
        assert Attachment.get_by_id(attachment.id).scanned_at == first.scanned_at


def test_a_result_before_complete_is_kept_and_applied_on_complete(s3_env):
    browser = signed_in(s3_env)
    content = b"early result"
    created = start_upload(browser, new_application(browser), content)
    post_to_s3(created["upload"], content)
    key = created["upload"]["fields"]["key"]
    version = versions(s3_env, key)[0]
    assert (
        deliver(s3_env, scan_event(key, version, "NO_THREATS_FOUND"))["outcome"] == "stored-early"
    )
    completed = browser.request("POST", f"/v1/attachments/{created['attachment']['id']}/complete")
    assert completed.json["data"]["status"] == "clean"


def test_an_event_for_another_version_never_changes_the_attachment(s3_env):
    browser, attachment = uploaded_and_completed(s3_env)
    # A replay of the presigned POST uploads a second version of the same key.
    s3_env.s3.put_object(Bucket=BUCKET, Key=attachment.storage_key, Body=b"replayed")
    other = [v for v in versions(s3_env, attachment.storage_key) if v != attachment.version_id][0]
    assert (
        deliver(s3_env, scan_event(attachment.storage_key, other, "NO_THREATS_FOUND"))["outcome"]
        == "other-version"
    )
    assert (
        browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]["status"]
        == "scanning"
    )
    assert (
        deliver(s3_env, scan_event(attachment.storage_key, other, "THREATS_FOUND"))["outcome"]
        == "other-version"
    )
    assert versions(s3_env, attachment.storage_key) == [attachment.version_id]  # infected one gone
    assert s3_env.notifier.sent[-1][0] == "malware_found"


def test_unknown_keys_validation_objects_and_foreign_events_are_ignored(s3_env):
    assert (
        deliver(s3_env, scan_event("attachments/unknown", "v1", "NO_THREATS_FOUND"))["outcome"]
        == "ignored"
    )
    validation = scan_event(
        "malware-protection-resource-validation-object", "v", "NO_THREATS_FOUND"
    )
    assert deliver(s3_env, validation)["reason"] == "validation object"
    foreign = scan_event("attachments/x", "v", "NO_THREATS_FOUND")
    foreign["detail"]["s3ObjectDetails"]["bucketName"] = "someone-elses-bucket"
    assert deliver(s3_env, foreign)["reason"] == "another bucket"
    assert (
        deliver(s3_env, {"detail-type": "Something else", "source": "aws.s3"})["outcome"]
        == "ignored"
    )


def test_stale_scanning_is_reconciled_from_the_version_tag(s3_env):
    browser, attachment = uploaded_and_completed(s3_env)
    s3_env.s3.put_object_tagging(
        Bucket=BUCKET,
        Key=attachment.storage_key,
        VersionId=attachment.version_id,
        Tagging={"TagSet": [{"Key": "GuardDutyMalwareScanStatus", "Value": "NO_THREATS_FOUND"}]},
    )
    assert (
        browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]["status"]
        == "scanning"
    )  # not stale yet: the event may still come
    s3_env.clock.advance(seconds=s3_env.settings.scan_stale_seconds + 1)
    browser.access_token = browser.login(browser_email(browser)).json["data"]["access_token"]
    data = browser.request("GET", f"/v1/attachments/{attachment.id}").json["data"]
    assert data["status"] == "clean" and data["download_url"]


def browser_email(browser) -> str:
    return browser.request("GET", "/v1/users/me").json["data"]["email"]


# ----- deletion, isolation, jobs role ---------------------------------------------------------


def test_delete_removes_every_version_and_the_record(s3_env):
    browser, attachment = uploaded_and_completed(s3_env)
    s3_env.s3.put_object(Bucket=BUCKET, Key=attachment.storage_key, Body=b"second version")
    assert browser.request("DELETE", f"/v1/attachments/{attachment.id}").status_code == 204
    assert versions(s3_env, attachment.storage_key) == []
    assert browser.request("GET", f"/v1/attachments/{attachment.id}").status_code == 404


def test_deleting_the_application_or_the_account_removes_the_objects(s3_env):
    browser, attachment = uploaded_and_completed(s3_env)
    app_id = attachment.application_id
    assert browser.request("DELETE", f"/v1/applications/{app_id}").status_code == 204
    assert versions(s3_env, attachment.storage_key) == []
    browser2, attachment2 = uploaded_and_completed(s3_env)
    from tests.helpers import STRONG_PASSWORD

    assert (
        browser2.request("DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD}).status_code
        == 204
    )
    assert versions(s3_env, attachment2.storage_key) == []


def test_export_lists_metadata_and_urls_for_clean_files_only(s3_env):
    browser, clean = uploaded_and_completed(s3_env, b"fine")
    deliver(s3_env, scan_event(clean.storage_key, clean.version_id, "NO_THREATS_FOUND"))
    created = start_upload(browser, new_application(browser), b"pending")
    exported = browser.request("GET", "/v1/users/me/export").json["data"]["attachments"]
    by_id = {item["id"]: item for item in exported}
    assert by_id[str(clean.id)]["download_url"]
    assert "download_url" not in by_id[created["attachment"]["id"]]
    assert "fine" not in json.dumps(exported)  # metadata, never the bytes


def test_another_user_sees_404(s3_env):
    _, attachment = uploaded_and_completed(s3_env)
    stranger = signed_in(s3_env)
    for path in (f"/v1/attachments/{attachment.id}", f"/v1/attachments/{attachment.id}/download"):
        assert stranger.request("GET", path).status_code == 404
    assert stranger.request("POST", f"/v1/attachments/{attachment.id}/complete").status_code == 404
    assert stranger.request("DELETE", f"/v1/attachments/{attachment.id}").status_code == 404
    assert (
        stranger.request(
            "GET", f"/v1/applications/{attachment.application_id}/attachments"
        ).status_code
        == 404
    )


def test_the_jobs_role_reads_and_updates_attachments_but_nothing_more(s3_env):
    _, attachment = uploaded_and_completed(s3_env)
    connection = psycopg2.connect(s3_env.settings.jobs_database_url)
    connection.autocommit = True
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM attachments WHERE id = %s", (str(attachment.id),))
        assert cursor.fetchone() == (1,)  # across users, without app.user_id
        for statement in (
            "SELECT * FROM applications",
            "DELETE FROM attachments",
            "INSERT INTO attachments (id) VALUES (gen_random_uuid())",
            "SELECT password_hash FROM users",
            "UPDATE users SET is_active = false",
            "SELECT * FROM application_events",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(statement)


# ----- maintenance ---------------------------------------------------------------------------


def test_maintenance_expires_abandoned_uploads_and_purges(s3_env):
    browser = signed_in(s3_env)
    content = b"abandoned"
    created = start_upload(browser, new_application(browser), content)
    post_to_s3(created["upload"], content)
    key = created["upload"]["fields"]["key"]
    s3_env.clock.advance(seconds=s3_env.settings.upload_pending_ttl_seconds + 1)
    from app.core.database import db

    service = maintenance_service(s3_env)
    try:
        with db.connection_context():
            first = service.run()
            second = service.run()
    finally:
        init_database(s3_env.settings.database_url, s3_env.settings)
    assert first["uploads_expired"] >= 1
    assert second["uploads_expired"] == 0  # idempotent
    assert versions(s3_env, key) == []
    with user_transaction(browser.user_id):
        assert Attachment.get_by_id(uuid.UUID(created["attachment"]["id"])).status == "expired"


# ----- local mode ----------------------------------------------------------------------------


def wait_for_scan(browser, attachment_id, timeout=10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = browser.request("GET", f"/v1/attachments/{attachment_id}").json["data"]
        if data["status"] not in ("pending_upload", "scanning"):
            return data
        time.sleep(0.05)
    raise AssertionError("the local scan never reported")


def put_local(browser, upload, content):
    assert upload["method"] == "PUT"
    assert upload["url"].startswith(browser.settings.api_url + "/local-storage/uploads/")
    path = urlsplit(upload["url"]).path
    return browser.client.simulate_put(path, body=content, headers=upload["headers"])


def test_local_mode_eicar_ends_infected_and_is_refused(local_env):
    browser = signed_in(local_env)
    created = start_upload(browser, new_application(browser), EICAR, "eicar.txt")
    assert put_local(browser, created["upload"], EICAR).status_code == 200
    completed = browser.request("POST", f"/v1/attachments/{created['attachment']['id']}/complete")
    assert completed.status_code == 200
    data = wait_for_scan(browser, created["attachment"]["id"])
    assert data["status"] == "infected" and data["threats"]
    refused = browser.request("GET", f"/v1/attachments/{created['attachment']['id']}/download")
    assert refused.status_code == 409


def test_local_mode_benign_file_downloads_the_same_bytes(local_env):
    browser = signed_in(local_env)
    content = "a small cover letter, ünïcode included\n".encode()
    created = start_upload(browser, new_application(browser), content, "lettre d'été.txt")
    put_local(browser, created["upload"], content)
    data = wait_for_scan(browser, created["attachment"]["id"])
    assert data["status"] == "clean"
    redirect = browser.request("GET", f"/v1/attachments/{created['attachment']['id']}/download")
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    fetched = browser.client.simulate_get(location.path)
    assert fetched.status_code == 200 and fetched.content == content
    assert fetched.headers["content-disposition"].startswith("attachment;")


def test_local_upload_token_is_single_use_and_checks_size_and_type(local_env):
    browser = signed_in(local_env)
    content = b"once only"
    created = start_upload(browser, new_application(browser), content)
    upload = created["upload"]
    wrong_type = dict(upload, headers={**upload["headers"], "Content-Type": "image/png"})
    assert put_local(browser, wrong_type, content).status_code == 415
    longer = dict(upload, headers={"Content-Type": upload["headers"]["Content-Type"]})
    assert put_local(browser, longer, content + b"!").status_code == 422
    assert put_local(browser, upload, content).status_code == 200
    assert put_local(browser, upload, content).status_code == 403  # already used
    path = urlsplit(upload["url"]).path
    forged = browser.client.simulate_put(path[:-3] + "abc", body=content, headers=upload["headers"])
    assert forged.status_code == 403


def test_maintenance_purges_and_sends_each_reminder_once(s3_env):
    from app.core.database import db
    from app.models import EmailToken, RateLimitCounter, RefreshToken, User

    browser = signed_in(s3_env)
    user = User.get(User.id == browser.user_id)
    # A password 85 days old expires in 5 days: inside the 7-day reminder window.
    User.update(password_changed_at=s3_env.clock() - timedelta(days=85)).where(
        User.id == user.id
    ).execute()
    RefreshToken.update(expires_at=s3_env.clock() - timedelta(seconds=1)).where(
        RefreshToken.user == user.id
    ).execute()
    EmailToken.create(
        user=user.id,
        purpose="verify_email",
        token_hash=uuid.uuid4().hex * 2,
        created_at=s3_env.clock() - timedelta(days=2),
        expires_at=s3_env.clock() - timedelta(days=1),
    )
    RateLimitCounter.create(
        key=f"test:{uuid.uuid4()}",
        window_start=s3_env.clock(),
        count=1,
        last_hit_at=s3_env.clock() - timedelta(days=3),
    )
    outbox = Outbox()
    service = maintenance_service(s3_env, outbox=outbox)
    reminders_off = maintenance_service(
        s3_env, fast_settings(s3_env.settings, password_max_age_days=0), outbox
    )
    try:
        with db.connection_context():
            first = service.run()
            second = service.run()
            off = reminders_off.run()
    finally:
        init_database(s3_env.settings.database_url, s3_env.settings)
    assert first["sessions_purged"] >= 1
    assert first["email_tokens_purged"] >= 1
    assert first["counters_purged"] >= 1
    assert first["password_reminders_sent"] >= 1
    assert [m.to for m in outbox.messages].count(user.email) == 1  # not again on the next runs
    assert second["password_reminders_sent"] == 0
    assert second["sessions_purged"] == second["email_tokens_purged"] == 0
    assert off["password_reminders_sent"] == 0
    reminder = next(m for m in outbox.messages if m.to == user.email)
    assert reminder.subject == "Your password expires in 5 days"
