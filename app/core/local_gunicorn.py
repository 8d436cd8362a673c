"""The API (or any WSGI app) served by gunicorn with the project's configuration module on a
loopback port: how `make dev`, the tests that need real HTTP and the benchmarks run it.

Options given here are gunicorn command-line settings; they override ``app/gunicorn_conf.py``'s.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from app.core.local_postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = "app/gunicorn_conf.py"
API = "app.main:app"


def gunicorn_command(
    port: int, *options: str, target: str = API, config: str = CONFIG, python: str = sys.executable
) -> list[str]:
    """The command line serving ``target`` on 127.0.0.1:``port`` with the configuration module
    ``config`` (a path relative to the repository; run it from there), under the interpreter
    ``python`` (this one unless given: the benchmarks pass a virtualenv of the runtime
    dependencies alone)."""
    return [
        python,
        "-m",
        "gunicorn",
        "-c",
        config,
        "--bind",
        f"127.0.0.1:{port}",
        *options,
        target,
    ]


class LocalGunicorn:
    """gunicorn started in the background; ``wait_until_serving`` waits for its first answer,
    ``stop`` asks for the graceful stop (SIGTERM) and returns the exit status.

    ``config`` is the configuration module (the benchmark's extends the project's).
    ``output`` receives gunicorn's stdout and stderr: a pipe by default (its end is shown when
    gunicorn fails to start), a file, or ``subprocess.DEVNULL``. The process gets ``env`` and
    nothing else (PATH included: pass it when the app needs it). ``python`` is the interpreter
    (this one by default)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *options: str,
        target: str = API,
        config: str = CONFIG,
        port: int | None = None,
        output: int | IO[bytes] = subprocess.PIPE,
        python: str = sys.executable,
    ) -> None:
        self.port = port or free_port()
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter running gunicorn
            gunicorn_command(self.port, *options, target=target, config=config, python=python),
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def wait_until_serving(self, probe: Callable[[], bool], seconds: float = 30) -> None:
        """Return once ``probe`` is true (connection errors count as not yet). If gunicorn exits
        or ``seconds`` pass first, stop it and raise with the end of its output."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self._halt(timeout=10)
        output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
        self.stop()
        raise RuntimeError(f"gunicorn did not start serving on port {self.port}:\n{output[-4000:]}")

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM (gunicorn's graceful stop), SIGKILL after ``timeout`` seconds; the exit status.
        The output pipe, if any, is closed."""
        try:
            return self._halt(timeout)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()

    def _halt(self, timeout: float) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
