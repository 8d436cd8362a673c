"""S3: public access, encryption, versioning, TLS, and the uploads bucket's malware-scan gate.

In pulumi-aws v7 these settings are separate resources that point at the bucket (its id, which is
its name); the rules are stack rules that join them back to each bucket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..iamdoc import Statement, exempt_principals, statements
from ..joins import StackView
from ..model import (
    UNKNOWN,
    NotApplicable,
    Rule,
    load_json_document,
    peek,
    truthy,
    value,
)

BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
MALWARE_PLAN = ("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",)

SCAN_TAG = "GuardDutyMalwareScanStatus"
CLEAN = "NO_THREATS_FOUND"
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
UPLOADS_PATTERN = {
    "uploadsBucketPattern": {
        "type": "string",
        "default": "upload",
        "description": "Regex over a bucket's logical or physical name that marks the uploads "
        "bucket",
    }
}


def bucket_label(b: Any) -> str:
    name = peek(b.props, "bucket")
    return f"{b.name} ({name})" if isinstance(name, str) and name and name != b.name else b.name


def check_public_access_block(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for b in stack.of_type(*BUCKET):
        blocks = stack.referrers(b, PUBLIC_ACCESS_BLOCK, "bucket")
        if not blocks:
            yield f"bucket {bucket_label(b)} has no BucketPublicAccessBlock", b.urn
            continue
        for pab in blocks:
            off = [f for f in BLOCK_FLAGS if not truthy(value(pab.props, f))]
            if off:
                yield (
                    f"bucket {bucket_label(b)}: public-access block {pab.name} leaves "
                    f"{', '.join(off)} off; all four must be true",
                    b.urn,
                )


def _sse_algorithms(sse_props: Any) -> list[Any]:
    rules = value(sse_props, "rules") or []
    return [value(r, "applyServerSideEncryptionByDefault", "sseAlgorithm") for r in rules]


def check_sse(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for b in stack.of_type(*BUCKET):
        algorithms = []
        for sse in stack.referrers(b, SSE, "bucket"):
            algorithms.extend(_sse_algorithms(sse.props))
        inline = value(
            b.props,
            "serverSideEncryptionConfiguration",
            "rule",
            "applyServerSideEncryptionByDefault",
            "sseAlgorithm",
        )
        if inline:
            algorithms.append(inline)
        if not algorithms:
            yield f"bucket {bucket_label(b)} has no server-side encryption configuration", b.urn
        elif not any(a in SSE_ALGORITHMS for a in algorithms):
            yield f"bucket {bucket_label(b)} uses unsupported SSE algorithm(s) {algorithms}", b.urn


def check_versioning(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for b in stack.of_type(*BUCKET):
        statuses = [
            value(v.props, "versioningConfiguration", "status")
            for v in stack.referrers(b, VERSIONING, "bucket")
        ]
        if truthy(value(b.props, "versioning", "enabled")):
            statuses.append("Enabled")
        if "Enabled" not in statuses:
            found = f" (status {statuses})" if statuses else ""
            yield f"bucket {bucket_label(b)} does not have versioning enabled{found}", b.urn


def _bucket_arns(b: Any) -> set[str]:
    return {i for i in StackView.identifiers(b) if i.startswith("arn:aws")}


def bucket_policy_statements(stack: StackView, b: Any) -> list[Statement] | None:
    """Statements of every policy attached to ``b`` (BucketPolicy resources or the inline policy);
    None when the bucket has no policy at all."""
    docs = []
    for bp in stack.referrers(b, BUCKET_POLICY, "bucket"):
        docs.append(load_json_document(peek(bp.props, "policy"), ["policy"]))
    inline = peek(b.props, "policy")
    if inline is UNKNOWN or inline:
        docs.append(load_json_document(inline, ["policy"]))
    if not docs:
        return None
    out: list[Statement] = []
    for d in docs:
        out.extend(statements(d))
    return out


def _targets_bucket(st: Statement, arns: set[str], objects: bool) -> bool:
    if "*" in st.resources:
        return True
    wanted = {f"{a}/*" for a in arns} if objects else arns
    return bool(wanted & set(st.resources))


def check_tls_only(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for b in stack.of_type(*BUCKET):
        sts = bucket_policy_statements(stack, b)
        if sts is None:
            yield f"bucket {bucket_label(b)} has no bucket policy denying non-TLS requests", b.urn
            continue
        arns = _bucket_arns(b)
        ok = False
        for st in sts:
            insecure = st.condition_values(("Bool",), "aws:SecureTransport")
            if (
                st.denies()
                and st.everyone()
                and (st.covers_action("s3:GetObject") and st.covers_action("s3:PutObject"))
                and insecure is not None
                and "false" in [v.lower() for v in insecure]
                and _targets_bucket(st, arns, objects=False)
                and _targets_bucket(st, arns, objects=True)
            ):
                ok = True
        if not ok:
            yield (
                f"bucket {bucket_label(b)}: no Deny of s3:* for Principal * when "
                "aws:SecureTransport is false, on both the bucket and its objects",
                b.urn,
            )


def uploads_buckets(stack: StackView, config: Mapping) -> list[Any]:
    pattern = re.compile(peek(config, "uploadsBucketPattern") or "upload", re.IGNORECASE)
    out = []
    for b in stack.of_type(*BUCKET):
        names = [b.name, peek(b.props, "bucket"), peek(b.props, "bucketPrefix")]
        if any(isinstance(n, str) and pattern.search(n) for n in names):
            out.append(b)
    return out


def _plans_for(stack: StackView, b: Any) -> list[Any]:
    return stack.referrers(
        b, MALWARE_PLAN, "protectedResource", ["protectedResource", "s3Bucket", "bucketName"]
    )


def check_uploads_scanned(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    buckets = uploads_buckets(stack, config)
    if not buckets:
        raise NotApplicable("no uploads bucket in this stack")
    for b in buckets:
        plans = _plans_for(stack, b)
        if not plans:
            yield (
                f"uploads bucket {bucket_label(b)} is not covered by a GuardDuty "
                "MalwareProtectionPlan",
                b.urn,
            )
            continue
        for plan in plans:
            statuses = [
                value(t, "status")
                for a in (value(plan.props, "actions") or [])
                for t in (value(a, "taggings") or [])
            ]
            if "ENABLED" not in statuses:
                yield (
                    f"malware protection plan {plan.name} does not tag scanned objects (tagging "
                    f"status {statuses or 'unset'})",
                    plan.urn,
                )
            if not value(plan.props, "role"):
                yield f"malware protection plan {plan.name} has no IAM role", plan.urn


def _guardduty_roles(stack: StackView, b: Any) -> set[str]:
    return {value(p.props, "role") for p in _plans_for(stack, b) if value(p.props, "role")}


def _only_gate_conditions(st: Statement) -> bool:
    """A gate's conditions are about the principal and the scan tag only (a TLS-only deny that
    also covers these actions is not the gate)."""
    for block in st.conditions.values():
        for key in block:
            k = key.lower()
            if k != "aws:principalarn" and not k.startswith(
                ("s3:requestobjecttag", "s3:existingobjecttag/")
            ):
                return False
    return True


def _gate(
    stack: StackView, b: Any, actions: tuple[str, ...], what: str, tag_condition: bool
) -> Iterator[tuple[str, str]]:
    roles = _guardduty_roles(stack, b)
    if not roles:
        yield (
            f"uploads bucket {bucket_label(b)}: no GuardDuty plan role to exempt from the {what} "
            "gate",
            b.urn,
        )
        return
    sts = bucket_policy_statements(stack, b) or []
    arns = _bucket_arns(b)
    for action in actions:
        gates = []
        for st in sts:
            if not (st.denies() and st.everyone() and st.covers_action(action)):
                continue
            if not _targets_bucket(st, arns, objects=True) or not _only_gate_conditions(st):
                continue
            if tag_condition:
                vals = st.condition_values(
                    ("StringNotEquals", "StringNotEqualsIfExists"),
                    f"s3:ExistingObjectTag/{SCAN_TAG}",
                )
                if not vals or CLEAN not in vals:
                    continue
            gates.append(st)
        if not gates:
            cond = f" unless the object's {SCAN_TAG} tag is {CLEAN}" if tag_condition else ""
            yield (
                f"uploads bucket {bucket_label(b)}: the bucket policy does not deny {action}{cond}",
                b.urn,
            )
            continue
        for st in gates:
            exempt = exempt_principals(st) or set()
            missing = roles - exempt
            extra = exempt - roles
            if missing:
                yield (
                    f"uploads bucket {bucket_label(b)}: the {action} deny does not exempt the "
                    "GuardDuty "
                    f"role {sorted(missing)}; every scan would end ACCESS_DENIED"
                    if tag_condition
                    else f"uploads bucket {bucket_label(b)}: the {action} deny does not exempt the "
                    f"GuardDuty role {sorted(missing)}, which must write the tag",
                    b.urn,
                )
            if extra:
                yield (
                    f"uploads bucket {bucket_label(b)}: the {action} deny also exempts "
                    f"{sorted(extra)}; only the GuardDuty role may be exempt",
                    b.urn,
                )


def check_uploads_read_gate(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    buckets = uploads_buckets(stack, config)
    if not buckets:
        raise NotApplicable("no uploads bucket in this stack")
    for b in buckets:
        yield from _gate(
            stack, b, ("s3:GetObject", "s3:GetObjectVersion"), "read", tag_condition=True
        )


def check_uploads_tag_writes(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    buckets = uploads_buckets(stack, config)
    if not buckets:
        raise NotApplicable("no uploads bucket in this stack")
    for b in buckets:
        yield from _gate(
            stack,
            b,
            ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            "tag-write",
            tag_condition=False,
        )


JOIN_UNKNOWN = (
    "defer: joins use propertyDependencies, which the engine knows during a preview; when a join "
    "key or a setting is unknown and no dependency information exists, the rule reports the "
    "advisory 'can't run during preview' and runs for real during `pulumi up`"
)

RULES = [
    Rule(
        name="s3-public-access-block",
        description="Every S3 bucket has a public-access block with all four settings true.",
        control="S3.8",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add aws.s3.BucketPublicAccessBlock(bucket=bucket.id, block_public_acls=True, "
        "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True).",
        unknown=JOIN_UNKNOWN,
        check=check_public_access_block,
        kind="stack",
    ),
    Rule(
        name="s3-server-side-encryption",
        description="Every S3 bucket has default server-side encryption (SSE-S3, SSE-KMS or "
        "DSSE-KMS) configured.",
        control="JAT-S3-SSE (AWS Config s3-bucket-server-side-encryption-enabled)",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add aws.s3.BucketServerSideEncryptionConfiguration for the bucket with "
        "apply_server_side_encryption_by_default.sse_algorithm 'aws:kms' (or 'AES256').",
        unknown=JOIN_UNKNOWN,
        check=check_sse,
        kind="stack",
    ),
    Rule(
        name="s3-versioning",
        description="Every S3 bucket has versioning enabled.",
        control="S3.14",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add aws.s3.BucketVersioning(bucket=bucket.id, "
        "versioning_configuration={'status': 'Enabled'}).",
        unknown=JOIN_UNKNOWN,
        check=check_versioning,
        kind="stack",
    ),
    Rule(
        name="s3-tls-only",
        description="Every S3 bucket's policy denies any request made without TLS "
        "(aws:SecureTransport false).",
        control="S3.5",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add a Deny statement for Principal '*', Action 's3:*', Resource [bucket ARN, "
        "bucket ARN + '/*'], Condition {'Bool': {'aws:SecureTransport': 'false'}} to the bucket "
        "policy.",
        unknown=JOIN_UNKNOWN + "; an unknown policy document defers the same way",
        check=check_tls_only,
        kind="stack",
    ),
    Rule(
        name="s3-uploads-malware-scan",
        description="The uploads bucket is covered by a GuardDuty Malware Protection plan that "
        "tags scanned objects.",
        control="JAT-UPLOADS-1 (GuardDuty Malware Protection for S3)",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create aws.guardduty.MalwareProtectionPlan with protected_resource.s3_bucket."
        "bucket_name set to the uploads bucket, a role, and actions=[{'taggings': [{'status': "
        "'ENABLED'}]}].",
        unknown=JOIN_UNKNOWN,
        check=check_uploads_scanned,
        kind="stack",
        config=UPLOADS_PATTERN,
    ),
    Rule(
        name="s3-uploads-read-gate",
        description="Reads (GetObject, GetObjectVersion) of the uploads bucket are denied unless "
        "the object is "
        f"tagged {SCAN_TAG}={CLEAN}; only the GuardDuty plan's role is exempt.",
        control="JAT-UPLOADS-2",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add a Deny for s3:GetObject and s3:GetObjectVersion on the bucket's objects "
        "with "
        f"StringNotEquals s3:ExistingObjectTag/{SCAN_TAG} {CLEAN} and ArnNotEquals "
        "aws:PrincipalArn "
        "<GuardDuty plan role ARN>.",
        unknown=JOIN_UNKNOWN + "; an unknown policy document defers the same way",
        check=check_uploads_read_gate,
        kind="stack",
        config=UPLOADS_PATTERN,
    ),
    Rule(
        name="s3-uploads-scan-tag-writes",
        description="Only GuardDuty may write object tags on the uploads bucket (PutObjectTagging, "
        "PutObjectVersionTagging are denied to every other principal).",
        control="JAT-UPLOADS-3",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add a Deny for s3:PutObjectTagging and s3:PutObjectVersionTagging on the "
        "bucket's "
        "objects with ArnNotEquals aws:PrincipalArn <GuardDuty plan role ARN>.",
        unknown=JOIN_UNKNOWN + "; an unknown policy document defers the same way",
        check=check_uploads_tag_writes,
        kind="stack",
        config=UPLOADS_PATTERN,
    ),
]
