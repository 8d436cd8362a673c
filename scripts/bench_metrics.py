"""What the EMF metrics cost the API worker: the resident memory an import adds (this module
against the aws-embedded-metrics library, when a directory holding it is given), and the time the
request-metrics middleware adds to one request, on and off.

    .venv/bin/python scripts/bench_metrics.py [--library-path DIR]

DIR is a directory the library was installed into (``uv pip install --target DIR
aws-embedded-metrics``); the library is not a dependency of the project. Results are recorded in
docs/operations.md.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import timeit

import falcon
import falcon.testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_RSS_AFTER_IMPORT = """
import resource, sys
sys.path[:0] = {paths!r}
import structlog, falcon  # the API worker has both loaded before any metrics module
def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
before = rss_kib()
import {module}
print(rss_kib() - before)
"""


def import_rss_kib(module: str, paths: list[str]) -> int:
    """Median RSS growth (KiB) of importing ``module`` in a fresh interpreter, over 5 runs."""
    runs = []
    for _ in range(5):
        code = _RSS_AFTER_IMPORT.format(paths=paths, module=module)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        runs.append(int(out.stdout.strip()))
    return sorted(runs)[len(runs) // 2]


def middleware_cost_us(enabled: bool, number: int = 20000) -> float:
    """Microseconds per request that metrics add to a request's response step."""
    from app.core.metrics import LOGINS, EmfMetrics, NullMetrics
    from app.core.middleware import RequestMetricsMiddleware

    sink = io.StringIO()
    metrics = EmfMetrics("Bench", stream=lambda: sink) if enabled else NullMetrics()
    middleware = RequestMetricsMiddleware(metrics)
    env = falcon.testing.create_environ(path="/v1/applications/123", method="GET")
    req = falcon.Request(env)
    req.uri_template = "/v1/applications/{application_id}"
    req.context.started = 0.0
    resp = falcon.Response()
    if not enabled:
        # Off, the middleware is not installed; what remains is each service's call to the
        # null sink, measured here.
        call = lambda: metrics.record(LOGINS, 1, Outcome="succeeded")  # noqa: E731
    else:
        call = lambda: middleware.process_response(req, resp, None, True)  # noqa: E731
    best = min(timeit.repeat(call, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library-path", help="a directory aws-embedded-metrics is installed in")
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    print(f"import app.core.metrics: +{import_rss_kib('app.core.metrics', [ROOT])} KiB RSS")
    if args.library_path:
        library = import_rss_kib(
            "aws_embedded_metrics.logger.metrics_logger_factory", [args.library_path]
        )
        print(f"import aws_embedded_metrics (its logger factory): +{library} KiB RSS")
    print(f"metrics on, per request: {middleware_cost_us(True):.2f} us")
    print(f"metrics off, per recorded signal: {middleware_cost_us(False):.3f} us")


if __name__ == "__main__":
    main()
