"""The CrossGuard policy pack for the Job App Tracker's AWS resources, its offline runner and the
repository guardrails.

Rules are plain functions over (type token, camelCase props) -- see :mod:`policies.model`. The same
functions run inside the pack (``pulumi preview --policy-pack policies``) and in the offline runner
(``python -m policies.check``). Every module in this package imports its siblings relatively, so the
pack also loads when the Pulumi CLI runs ``policies/`` as a script directory under another name.
"""
