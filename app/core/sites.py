"""Same-site decisions, shared by the API's settings and the Pulumi program's configuration.

A site is a URL's scheme plus its registrable domain (the public suffix and one label more),
as browsers decide SameSite. The registrable domain comes from the Public Suffix List bundled in
the ``publicsuffixlist`` package: read from the installed file, never fetched, so start-up needs
no network and every instance decides alike. ``a.co.uk`` and ``b.co.uk`` are two sites;
``app.example.com`` and ``api.example.com`` are one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the package's bundled public_suffix_list.dat


def registrable_domain(host: str) -> str:
    """The host's registrable domain; an IP address, a single label (localhost) or a public
    suffix itself has none and is its own site."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _suffixes().privatesuffix(host) or host
    return host


def site(url: str) -> tuple[str, str]:
    parts = urlsplit(url or "")
    return parts.scheme.lower(), registrable_domain(parts.hostname or "")


def same_site(first_url: str, second_url: str) -> bool:
    return site(first_url) == site(second_url)
