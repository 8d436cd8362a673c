"""ECR: scan on push, immutable tags, a lifecycle policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from ..joins import StackView
from ..model import DEFER, Rule, load_json_document, peek, truthy, value

REPOSITORY = ("aws:ecr/repository:Repository",)
LIFECYCLE = ("aws:ecr/lifecyclePolicy:LifecyclePolicy",)


def check_scan_on_push(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if not truthy(value(props, "imageScanningConfiguration", "scanOnPush")):
        yield "imageScanningConfiguration.scanOnPush is not true: pushed images are not scanned"


def check_immutable(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    mutability = value(props, "imageTagMutability") or "MUTABLE"
    if not str(mutability).startswith("IMMUTABLE"):
        yield (
            f"imageTagMutability is {mutability}: a tag can be overwritten with different image "
            "content"
        )


def check_lifecycle(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for repo in stack.of_type(*REPOSITORY):
        policies = stack.referrers(repo, LIFECYCLE, "repository")
        if not policies:
            yield f"repository {repo.name} has no lifecycle policy", repo.urn
            continue
        for lp in policies:
            doc = load_json_document(peek(lp.props, "policy"), ["policy"])
            if not isinstance(doc, dict) or not doc.get("rules"):
                yield f"lifecycle policy {lp.name} of repository {repo.name} has no rules", repo.urn


RULES = [
    Rule(
        name="ecr-scan-on-push",
        description="ECR repositories scan every image on push.",
        control="ECR.1",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set image_scanning_configuration={'scan_on_push': True}.",
        unknown=DEFER,
        check=check_scan_on_push,
        types=REPOSITORY,
    ),
    Rule(
        name="ecr-immutable-tags",
        description="ECR repositories have immutable image tags.",
        control="ECR.2",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set image_tag_mutability='IMMUTABLE' and tag images with the git SHA.",
        unknown=DEFER,
        check=check_immutable,
        types=REPOSITORY,
    ),
    Rule(
        name="ecr-lifecycle-policy",
        description="Every ECR repository has a lifecycle policy with at least one rule.",
        control="ECR.3",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add aws.ecr.LifecyclePolicy(repository=repo.name, policy=...) that keeps the "
        "last N "
        "tagged images and expires untagged ones.",
        unknown="defer: the repository join uses propertyDependencies during a preview; an unknown "
        "repository name or policy without dependency information reports the advisory 'can't run "
        "during preview'",
        check=check_lifecycle,
        kind="stack",
    ),
]
