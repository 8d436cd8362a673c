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
Its HTTP layer is imported without pyOpenSSL (``import_botocore``).
"""

from __future__ import annotations

import sys
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

# urllib3's pyOpenSSL shim, which botocore's HTTP layer imports when it can.
_PYOPENSSL_SHIM = "urllib3.contrib.pyopenssl"


def import_botocore() -> None:
    """Import botocore's HTTP layer (``botocore.httpsession``) without pyOpenSSL; call it before
    any other botocore import (``pruned_session`` does; app/bootstrap.py does before the Lambda
    notifier's and SES's modules).

    botocore imports urllib3's pyOpenSSL shim only for its ``orig_util_SSLContext``, and falls
    back to ``urllib3.util.ssl_.SSLContext`` when the import fails: in urllib3 2 both are
    ``ssl.SSLContext`` (``tests/unit/test_aws_clients.py`` checks it), so TLS is the standard
    library's either way. The shim loads pyOpenSSL and its cryptography bindings, about 1 MB in
    every API worker, which only passkey attestation uses (imported there on first use). A
    ``None`` entry in ``sys.modules`` makes that one import fail (the import system's documented
    behaviour); it is removed again at once, so a later import of the shim works.
    """
    if "botocore.httpsession" in sys.modules or _PYOPENSSL_SHIM in sys.modules:
        import botocore.httpsession  # noqa: F401 - loaded already, or the shim is paid for

        return
    sys.modules[_PYOPENSSL_SHIM] = None  # type: ignore[assignment]  # None: "not importable"
    try:
        import botocore.httpsession  # noqa: F401 - the import is the point
    finally:
        if sys.modules.get(_PYOPENSSL_SHIM, ...) is None:
            del sys.modules[_PYOPENSSL_SHIM]


def pruned_session() -> Session:
    """A new botocore session whose clients read the pruned data first."""
    import_botocore()
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
