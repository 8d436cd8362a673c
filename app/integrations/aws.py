"""AWS clients built by botocore from its bundled data, pruned to what this application calls.

A botocore client holds its service's whole model, and every client of a process shares the
endpoint data of every AWS service (``endpoints.json``): about 7 MB of Python objects for the
endpoints, 3.4 MB for S3's model and 2 MB for Lambda's, in every API worker
(docs/benchmarks.md). ``aws_data/`` holds the same files as botocore's ``data`` directory, cut
down by ``scripts/prune_aws_data.py``: the endpoint data of the services in ``OPERATIONS`` (and
of sts, which botocore's credential providers call), and each service's model with only the
operations in ``OPERATIONS``, the shapes they reach and no documentation strings. Everything else
a client reads (endpoint rule sets, paginators, partitions, retry rules) comes from botocore's own
data, and the clients are botocore's own: signing, credentials (the default provider chain,
refreshed before they expire), retries and endpoint resolution are unchanged.

The pruned files are botocore's bundled data, so the loader reports them as bundled: botocore
passes the endpoint it resolves from ``endpoints.json`` into its endpoint rules only when the
file is not its own (botocore/args.py), which would change the URLs of S3 requests and presigned
URLs. ``tests/unit/test_aws_clients.py`` checks that the pruned clients presign exactly as
botocore's full data does, and that the files are what the script makes of the installed botocore.

botocore is imported inside ``client``: a process that configures no AWS adapter never loads it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session

DATA = Path(__file__).with_name("aws_data")

# The operations each service's client may call (a presigned POST resolves its endpoint through
# CreateBucket; a presigned download URL is a GetObject). A call outside this list fails with
# botocore's OperationNotFoundError.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "s3": (
        "CreateBucket",
        "DeleteObject",
        "DeleteObjects",
        "GetObject",
        "GetObjectTagging",
        "ListObjectVersions",
    ),
    "lambda": ("Invoke",),
}
# botocore's credential providers create sts clients (assumed roles, web identity).
ENDPOINT_SERVICES = (*OPERATIONS, "sts")

_session: Session | None = None
_lock = threading.Lock()


def pruned_session() -> Session:
    """A new botocore session whose clients read the pruned data first."""
    from botocore.loaders import Loader
    from botocore.session import Session

    class PrunedLoader(Loader):
        """botocore's loader, searching ``aws_data/`` first."""

        def __init__(self) -> None:
            super().__init__(extra_search_paths=[str(DATA)])

        def is_builtin_path(self, path: str) -> bool:
            return path.startswith(str(DATA)) or bool(super().is_builtin_path(path))

    session = Session()
    session.register_component("data_loader", PrunedLoader())
    return session


def session() -> Session:
    """The process's botocore session on the pruned data (one per process, as boto3's default
    session is)."""
    global _session
    with _lock:
        if _session is None:
            _session = pruned_session()
        return _session


def client(service: str, region: str | None, config: Config | None = None) -> Any:
    """A botocore client for ``service``, credentials from the default provider chain."""
    if service not in OPERATIONS:
        raise ValueError(f"no pruned AWS data for {service}: add its operations to OPERATIONS")
    return session().create_client(service, region_name=region, config=config)
