"""The stack configuration's declaration: a stack file is read through the pydantic models, and a
bad one is refused with every problem listed at once, in the stack file's own key names."""

from __future__ import annotations

import pytest
import yaml

from infra import config as cfgmod
from infra import plan
from infra.offline import STACKS_DIR, stack_settings

# Six problems, each in a different place and of a different kind.
BROKEN = {
    "jobapptracker:compute": "lightsail",
    "jobapptracker:network": {"cidr": "10.40.0.0/24", "azCount": 2},
    "jobapptracker:service": {"minInstances": 3, "maxInstances": 2},
    "jobapptracker:uploads": {"maxBytes": "lots"},
    "jobapptracker:database": {"multiAz": "yes"},
    "jobapptracker:owner": "",
}
EXPECTED = [
    "jobapptracker:compute must be one of 'apprunner' or 'ecs' (got 'lightsail')",
    "jobapptracker:network.cidr must be /20 or larger (got 10.40.0.0/24)",
    "jobapptracker:service.maxInstances must be >= minInstances",
    "jobapptracker:uploads.maxBytes must be an integer (got 'lots')",
    "jobapptracker:database.multiAz must be true or false (got 'yes')",
    "jobapptracker:owner is required (the owner tag on every resource)",
]


def _stack_file(tmp_path, name: str, **changes: object) -> None:
    data = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    data["config"].update(changes)
    (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def test_a_stack_file_with_several_problems_lists_every_one(tmp_path):
    _stack_file(tmp_path, "broken", **BROKEN)
    with pytest.raises(cfgmod.ConfigError) as e:
        stack_settings("broken", True, tmp_path)
    assert sorted(e.value.problems) == sorted(EXPECTED)
    message = str(e.value)
    assert message.startswith("invalid stack configuration:")
    for problem in EXPECTED:
        assert f"  - {problem}" in message


def test_plan_prints_every_problem_of_a_bad_stack_file(tmp_path, capsys, monkeypatch):
    _stack_file(tmp_path, "broken", **BROKEN)
    monkeypatch.setattr("infra.offline.STACKS_DIR", tmp_path)
    assert plan.main(["--stack", "broken", "--picture-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    for problem in EXPECTED:
        assert problem in err


def test_pulumi_config_text_is_read_as_the_declared_types():
    # Pulumi hands top-level scalars over as text; objects arrive parsed from JSON.
    values = {
        "environment": "prod",
        "owner": "platform",
        "compute": "apprunner",
        "frontendUrl": "https://app.example.com",
        "apiUrl": "https://api.example.com",
        "email": {"provider": "ses", "fromEmail": "no-reply@example.com"},
        "rateLimiterFailClosed": "false",
        "emailVerificationEnabled": "True",
        "logRetentionDays": "90",
        "passwordMaxAgeDays": "0",
        "database": {"multiAz": True, "allocatedStorage": 20, "maxAllocatedStorage": 0},
    }
    cfg = cfgmod.from_mapping(values, stack="x", region="eu-west-1")
    assert cfg.rate_limiter_fail_closed is False
    assert cfg.email_verification_enabled is True
    assert (cfg.log_retention_days, cfg.password_max_age_days) == (90, 0)
    assert cfg.database.multi_az is True and cfg.database.max_allocated_storage == 0
    assert cfg.network == cfgmod.NetworkConfig()  # an unset section takes its declared defaults


def test_load_reads_every_declared_key():
    aliases = {f.alias or n for n, f in cfgmod.StackConfig.model_fields.items()}
    assert set(cfgmod.KEYS) == aliases - {"stack", "region"}
    assert "apiUrl" in cfgmod.KEYS and "frontendUrl" in cfgmod.KEYS


def test_the_database_engine_is_not_a_stack_setting():
    values = {
        k.split(":", 1)[1]: v
        for k, v in yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text())["config"].items()
        if k.startswith("jobapptracker:")
    }
    values["database"] = {**values["database"], "engineVersion": "9", "name": "other"}
    cfg = cfgmod.from_mapping(values, stack="dev", region="eu-west-1")
    assert (cfg.database.engine_version, cfg.database.name) == ("18", "jobapptracker")
