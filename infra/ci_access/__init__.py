"""The CI side of an AWS account: GitHub's OIDC provider, the preview role, one deploy role per
stack and the permissions boundary they and the program's roles carry. A project of its own
(``Pulumi.yaml`` here), run once per account by an administrator (docs/ci-cd.md)."""
