"""Explicit providers: the us-east-1 one CloudFront's certificate, web ACL and metrics need.

It inherits every setting of the stack's default provider (profile, assumed roles, allowed
accounts, default tags, endpoints, retries...) except the region, so it deploys with the same
identity and guard rails as the rest of the stack. Static keys are never configured here.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

# provider argument -> (aws:* config key, how the value is read)
INHERITED: dict[str, tuple[str, str]] = {
    "allowed_account_ids": ("allowedAccountIds", "object"),
    "assume_role_with_web_identity": ("assumeRoleWithWebIdentity", "object"),
    "assume_roles": ("assumeRoles", "object"),
    "custom_ca_bundle": ("customCaBundle", "str"),
    "default_tags": ("defaultTags", "object"),
    "endpoints": ("endpoints", "object"),
    "forbidden_account_ids": ("forbiddenAccountIds", "object"),
    "http_proxy": ("httpProxy", "str"),
    "https_proxy": ("httpsProxy", "str"),
    "ignore_tags": ("ignoreTags", "object"),
    "insecure": ("insecure", "bool"),
    "max_retries": ("maxRetries", "int"),
    "no_proxy": ("noProxy", "str"),
    "profile": ("profile", "str"),
    "retry_mode": ("retryMode", "str"),
    "shared_config_files": ("sharedConfigFiles", "object"),
    "shared_credentials_files": ("sharedCredentialsFiles", "object"),
    "skip_credentials_validation": ("skipCredentialsValidation", "bool"),
    "skip_metadata_api_check": ("skipMetadataApiCheck", "str"),
    "skip_region_validation": ("skipRegionValidation", "bool"),
    "skip_requesting_account_id": ("skipRequestingAccountId", "bool"),
    "sts_region": ("stsRegion", "str"),
    "tag_policy_compliance": ("tagPolicyCompliance", "str"),
    "token_bucket_rate_limiter_capacity": ("tokenBucketRateLimiterCapacity", "int"),
    "use_dualstack_endpoint": ("useDualstackEndpoint", "bool"),
    "use_fips_endpoint": ("useFipsEndpoint", "bool"),
    "user_agents": ("userAgents", "object"),
}


def stack_provider_settings() -> dict[str, Any]:
    """The stack's aws:* provider settings that are set, typed as provider arguments."""
    conf = pulumi.Config("aws")
    read = {"object": conf.get_object, "bool": conf.get_bool, "int": conf.get_int, "str": conf.get}
    settings = {arg: read[kind](key) for arg, (key, kind) in INHERITED.items()}
    return {k: v for k, v in settings.items() if v is not None}


def us_east_1(name: str, parent: pulumi.Resource) -> aws.Provider:
    return aws.Provider(
        name,
        region="us-east-1",
        **stack_provider_settings(),
        opts=pulumi.ResourceOptions(parent=parent),
    )
