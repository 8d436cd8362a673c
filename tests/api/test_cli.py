"""`python -m app.cli db ...` against the session's PostgreSQL, as an operator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bootstrap_roles_with_an_admin_url_is_idempotent(db_env, local_pg):
    for _ in range(2):
        result = cli(db_env, "db", "bootstrap-roles", "--admin-url", local_pg.admin_url)
        assert result.returncode == 0, result.stderr
        assert "altered role jat_app" in result.stdout


def test_migrate_again_applies_nothing_and_status_lists_history(db_env):
    result = cli(db_env, "db", "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 applied"
    status = cli(db_env, "db", "status")
    assert "[x] 001_baseline" in status.stdout
    assert "[ ]" not in status.stdout


def test_generate_reports_no_changes_when_models_match_history(db_env, tmp_path):
    # Writes into a copy, so a model change without its migration can never leave a stray file.
    target = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", target, ignore=shutil.ignore_patterns("__pycache__"))
    result = cli(db_env, "db", "generate", "nothing_changed", "--dir", str(target))
    assert result.returncode == 0, result.stderr
    assert "no changes" in result.stdout, "models and migrations differ: run db generate"
    assert sorted(p.name for p in target.glob("*.py")) == sorted(
        p.name for p in (REPO / "migrations").glob("*.py")
    )


def test_legacy_variables_stop_the_cli_with_guidance(db_env):
    result = cli({**db_env, "DB_USER": "old"}, "db", "status")
    assert result.returncode == 2
    assert "DB_APP_USER" in result.stderr and "DB_MIGRATOR_USER" in result.stderr


def test_force_password_change_flags_the_user_and_revokes_sessions(db_env, settings):
    from app.models import RefreshToken, User
    from tests.helpers import Browser, build, fast_settings, unique_email

    config = fast_settings(settings)
    app, _, _ = build(config)
    browser = Browser(app, config)
    email = unique_email("forced")
    browser.register(email)
    browser.login(email)

    result = cli(db_env, "users", "force-password-change", email.upper())
    assert result.returncode == 0, result.stderr
    assert "password change required" in result.stdout
    user = User.get(User.email == email)
    assert user.force_password_change is True
    assert (
        not RefreshToken.select()
        .where(RefreshToken.user == user, RefreshToken.revoked_at.is_null())
        .exists()
    )
    assert browser.request("GET", "/v1/users/me").status_code == 401
    relogin = browser.login(email)
    assert relogin.json["data"]["user"]["must_change_password"] is True

    missing = cli(db_env, "users", "force-password-change", "nobody@example.com")
    assert missing.returncode == 1
    assert "No account" in missing.stderr


def test_force_password_change_needs_no_signing_key(db_env, settings):
    from app.models import RefreshToken, User
    from tests.helpers import Browser, build, fast_settings, unique_email

    config = fast_settings(settings)
    app, _, _ = build(config)
    browser = Browser(app, config)
    email = unique_email("keyless")
    browser.register(email)
    browser.login(email)

    without_key = {name: value for name, value in db_env.items() if name != "JWT_SECRET"}
    result = cli(without_key, "users", "force-password-change", email)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    user = User.get(User.email == email)
    assert user.force_password_change is True
    assert (
        not RefreshToken.select()
        .where(RefreshToken.user == user, RefreshToken.revoked_at.is_null())
        .exists()
    )


def test_commands_use_the_dev_servers_defaults_in_development(db_env, tmp_path, monkeypatch):
    """In development a command sees what `make dev` gives the local server (its JWT key, the
    console email provider, the local uploads folder); elsewhere only the environment."""
    import json

    from app import cli as commands

    monkeypatch.setattr(commands, "DEV_SECRETS_FILE", tmp_path / "dev-secrets.json")
    for name, value in db_env.items():
        monkeypatch.setenv(name, value)
    for name in (
        "APP_ENV",
        "JWT_SECRET",
        "MFA_ENCRYPTION_KEY",
        "EMAIL_PROVIDER",
        "LOCAL_STORAGE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    # A file from before second factors holds the JWT key only: the MFA key is added to it.
    (tmp_path / "dev-secrets.json").write_text(json.dumps({"JWT_SECRET": "k" * 48}))

    settings, local = commands._settings_for_database()
    assert local is None  # DB_* given: that server, not the embedded one
    stored = json.loads((tmp_path / "dev-secrets.json").read_text())
    dev_key = stored["JWT_SECRET"]
    assert dev_key == "k" * 48
    assert settings.app_env == "development"
    assert settings.jwt_secret == dev_key
    assert settings.mfa_encryption_key == stored["MFA_ENCRYPTION_KEY"] != dev_key
    assert len(settings.mfa_encryption_key) >= 32
    assert settings.email_provider == "console"
    assert settings.local_storage_dir == str(commands.REPO_ROOT / "var" / "uploads")

    monkeypatch.setenv("APP_ENV", "test")
    settings, _ = commands._settings_for_database()
    assert settings.jwt_secret is None
    assert settings.mfa_encryption_key is None
    assert settings.email_provider == "resend"
