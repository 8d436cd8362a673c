"""Offline policy run: ``python -m policies.check`` (``make policy``).

Without ``--resources`` it renders every stack in ``infra/stacks`` under mocks
(``infra.offline.capture_stack``) twice -- fully deployed with the placeholder image tag, and the
image-less first phase -- evaluates the pack's rules over each capture with that stack's policy
config, does the same for every stack of the CI access project (``infra/ci_access``, prod config),
then applies the repository guardrails and the API-shape check. With ``--resources FILE``
it evaluates a resource list from anywhere (schema in docs/policies.md) and nothing else.

Exit status: 0 when no mandatory rule is violated, 1 when one is, 2 on a usage or input error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from . import apishape, packconfig
from .engine import Finding, Outcome, evaluate
from .guardrails import GUARDRAILS, Guardrail
from .resources import ResourceFileError, normalise
from .rules import ALL_RULES

ROOT = Path(__file__).resolve().parent.parent
PHASES = (("full", True), ("image-less", False))


class UsageError(Exception):
    pass


@dataclass
class Run:
    label: str
    stack: str | None
    phase: str | None
    environment: str
    outcome: Outcome
    notes: list[str] = field(default_factory=list)


# ----- stacks --------------------------------------------------------------------------------


def stack_environment(stack: str, root: Path | None = None) -> str:
    """The stack's ``<project>:environment`` config value (dev or prod); never its name."""
    import yaml

    path = (root or ROOT) / "infra" / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise UsageError(f"no stack file {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = data.get("config") or {}
    values = [v for k, v in config.items() if k == "environment" or str(k).endswith(":environment")]
    values = [v.get("value") if isinstance(v, dict) else v for v in values]
    if len(values) != 1 or values[0] not in ("dev", "prod"):
        raise UsageError(
            f"{path}: expected exactly one <project>:environment of dev or prod, found {values}"
        )
    return values[0]


def _offline() -> ModuleType:
    try:
        from infra import offline
    except ImportError as e:
        raise UsageError(
            f"infra.offline is not available ({e}); use --resources FILE to check a captured plan"
        ) from e
    return offline


def run_stacks(stacks: list[str] | None, config_path: Path | None) -> list[Run]:
    offline = _offline()
    names = stacks or offline.list_stacks()
    if not names:
        raise UsageError("infra.offline.list_stacks() returned no stacks")
    runs = []
    for stack in names:
        env = stack_environment(stack)
        config = _config(env, config_path)
        for phase, with_image in PHASES:
            entries = normalise(offline.capture_stack(stack, with_image=with_image), stack=stack)
            outcome = evaluate(entries, config)
            run = Run(
                f"stack {stack}, {phase} phase, environment {env}", stack, phase, env, outcome
            )
            _phase_sanity(run, entries, with_image)
            runs.append(run)
    if stacks is None:
        runs += run_ci_access(config_path)
    return runs


def run_ci_access(config_path: Path | None) -> list[Run]:
    """The CI access project (infra/ci_access), every stack, under the strict (prod) config: it
    holds the roles that can deploy prod."""
    try:
        from infra.ci_access import offline as ci_offline
    except ImportError as e:
        raise UsageError(f"infra.ci_access.offline is not available ({e})") from e
    config = _config("prod", config_path)
    runs = []
    for stack in ci_offline.list_stacks():
        entries = normalise(ci_offline.capture_stack(stack), stack=stack)
        outcome = evaluate(entries, config)
        label = f"ci-access stack {stack}, environment prod"
        runs.append(Run(label, f"ci-access/{stack}", "full", "prod", outcome))
    return runs


def _phase_sanity(run: Run, entries: list[dict], with_image: bool) -> None:
    from .joins import IMAGE_BOUND_TYPES

    bound = [e["name"] for e in entries if e["type"] in IMAGE_BOUND_TYPES]
    if with_image and not bound:
        run.outcome.findings.append(
            Finding(
                "runner-phases",
                "mandatory",
                "the fully deployed capture holds no Lambda, invocation or "
                "service: image-bound rules could not run",
                "(stack)",
                "",
                "",
            )
        )
    if not with_image and bound:
        run.outcome.findings.append(
            Finding(
                "runner-phases",
                "mandatory",
                f"the image-less phase creates image-bound resources {bound}",
                "(stack)",
                "",
                "",
            )
        )


def _config(environment: str, path: Path | None) -> dict[str, Any]:
    try:
        config = packconfig.load(environment, path)
    except packconfig.ConfigError as e:
        raise UsageError(str(e)) from e
    problems = packconfig.validate(config, ALL_RULES, environment)
    if problems:
        raise UsageError("policy config refused:\n  " + "\n  ".join(problems))
    return packconfig.for_environment(config, ALL_RULES, environment)


def run_resources(
    path: Path, environment: str, config_path: Path | None, *, chosen: bool = True
) -> Run:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e}") from e
    except ValueError as e:
        raise UsageError(f"{path}: not JSON ({e})") from e
    try:
        entries = normalise(doc)
    except ResourceFileError as e:
        raise UsageError(f"{path}: {e}") from e
    outcome = evaluate(entries, _config(environment, config_path))
    how = "" if chosen else " (the default; --environment dev for a dev plan)"
    return Run(
        f"resources {path}, environment {environment}{how}", None, None, environment, outcome
    )


# ----- guardrails ----------------------------------------------------------------------------


def run_guardrails(root: Path, guardrails: list[Guardrail]) -> Run:
    outcome = Outcome()
    for g in guardrails:
        try:
            for message, where in g.check(root):
                outcome.findings.append(
                    Finding(g.name, g.enforcement.value, message, where, "file", "")
                )
            outcome.evaluated.add(g.name)
        except apishape.NotYetAvailable as e:
            outcome.not_applicable.setdefault(g.name, []).append(str(e))
    return Run("repository guardrails", None, None, "-", outcome)


# ----- output --------------------------------------------------------------------------------


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [
            min(max(w, len(c)), 60 if i < 3 else 10_000)
            for i, (w, c) in enumerate(zip(widths, row, strict=True))
        ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def render_table(runs: list[Run], rules_meta: list[dict]) -> str:
    out = []
    for run in runs:
        o = run.outcome
        out.append(f"== {run.label}")
        findings = sorted(o.findings, key=lambda f: (f.level != "mandatory", f.rule, f.resource))
        if findings:
            out.append(
                _table(
                    [[f.rule, f.resource, f.level, f.message] for f in findings],
                    ["RULE", "RESOURCE", "LEVEL", "MESSAGE"],
                )
            )
        else:
            out.append("no violations")
        for rule, reasons in sorted(o.not_applicable.items()):
            if rule not in o.evaluated:
                out.append(f"  not applicable: {rule}: {reasons[0]}")
        for note in run.notes:
            out.append(f"  {note}")
        mandatory = sum(f.level == "mandatory" for f in o.findings)
        advisory = len(o.findings) - mandatory
        out.append(
            f"  {len(o.evaluated)} rules evaluated, {mandatory} mandatory, {advisory} advisory"
        )
        out.append("")
    evaluated = set().union(*(r.outcome.evaluated for r in runs)) if runs else set()
    total_m = sum(f.level == "mandatory" for r in runs for f in r.outcome.findings)
    out.append(
        f"{len(evaluated)} of {len(rules_meta)} rules evaluated; "
        f"{total_m} mandatory violation(s): {'FAIL' if total_m else 'PASS'}"
    )
    return "\n".join(out)


def render_json(runs: list[Run], rules_meta: list[dict]) -> str:
    violations, not_applicable = [], []
    for run in runs:
        for f in run.outcome.findings:
            violations.append(
                {
                    **f.as_dict(),
                    "stack": run.stack,
                    "phase": run.phase,
                    "environment": run.environment,
                }
            )
        for rule, reasons in sorted(run.outcome.not_applicable.items()):
            if rule not in run.outcome.evaluated:
                not_applicable.append(
                    {"rule": rule, "stack": run.stack, "phase": run.phase, "reason": reasons[0]}
                )
    evaluated = set().union(*(r.outcome.evaluated for r in runs)) if runs else set()
    rules = [{**m, "evaluated": m["name"] in evaluated} for m in rules_meta]
    checked = [
        {"label": r.label, "stack": r.stack, "phase": r.phase, "environment": r.environment}
        for r in runs
    ]
    return json.dumps(
        {
            "runs": checked,
            "rules": rules,
            "violations": violations,
            "notApplicable": not_applicable,
        },
        indent=2,
    )


# ----- entry point ---------------------------------------------------------------------------


def main(
    argv: list[str] | None = None,
    *,
    root: Path = ROOT,
    openapi_generator: Callable[[], dict[str, Any]] = apishape.generate_document,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.check", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--resources", type=Path, help="check this JSON resource list instead of the stacks"
    )
    parser.add_argument(
        "--environment",
        choices=("dev", "prod"),
        help="policy environment for --resources (default: prod, the strict reading)",
    )
    parser.add_argument("--stack", action="append", help="only this stack (repeatable)")
    parser.add_argument(
        "--config", type=Path, help="policy config file (default: policies/config/<env>.json)"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--skip-guardrails", action="store_true", help="stacks only")
    parser.add_argument(
        "--update-openapi-snapshot",
        action="store_true",
        help="regenerate docs/openapi.json (refused on breaking changes)",
    )
    parser.add_argument(
        "--allow-breaking",
        action="store_true",
        help="with --update-openapi-snapshot: accept breaking changes (retiring an API version)",
    )
    args = parser.parse_args(argv)
    # stdout carries the result alone (JSON must parse); anything logged while rendering the
    # stacks or generating the OpenAPI document goes to stderr.
    result = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        return _run(args, root, openapi_generator, result)


def _run(
    args: argparse.Namespace,
    root: Path,
    openapi_generator: Callable[[], dict[str, Any]],
    result: Any,
) -> int:
    if args.update_openapi_snapshot:
        try:
            broken = apishape.update_snapshot(
                root, openapi_generator, allow_breaking=args.allow_breaking
            )
        except apishape.NotYetAvailable as e:
            print(f"api-shape: {e}", file=sys.stderr)
            return 2
        if broken:
            print(
                "refusing to update docs/openapi.json; breaking changes:\n  " + "\n  ".join(broken),
                file=sys.stderr,
            )
            return 1
        print(f"wrote {root / apishape.SNAPSHOT}", file=result)
        return 0

    guardrails = [*GUARDRAILS, apishape.guardrail(openapi_generator)]
    rules_meta = [r.metadata() for r in ALL_RULES] + [g.metadata() for g in guardrails]
    try:
        if args.resources:
            runs = [
                run_resources(
                    args.resources,
                    args.environment or "prod",
                    args.config,
                    chosen=args.environment is not None,
                )
            ]
        else:
            runs = run_stacks(args.stack, args.config)
            if not args.skip_guardrails:
                runs.append(run_guardrails(root, guardrails))
    except UsageError as e:
        print(f"policies.check: {e}", file=sys.stderr)
        return 2

    print(
        render_json(runs, rules_meta) if args.format == "json" else render_table(runs, rules_meta),
        file=result,
    )
    failed = any(f.level == "mandatory" for run in runs for f in run.outcome.findings)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
