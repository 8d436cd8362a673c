"""The API's gunicorn worker leaves new connections to a sibling for a moment once it holds as
many as it has threads (app/gunicorn_worker.py), on real sockets and gunicorn's own poller."""

from __future__ import annotations

import os
import selectors
import socket
import time

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from app.gunicorn_worker import ApiWorker


class CollectingWorker(ApiWorker):
    """Keeps accepted connections instead of handing them to the thread pool."""

    def enqueue_req(self, conn) -> None:
        self.accepted.append(conn)


@pytest.fixture
def make_worker():
    made = []

    def make(workers: int, threads: int, age: int = 1) -> tuple[CollectingWorker, socket.socket]:
        config = Config()
        config.set("workers", workers)
        config.set("threads", threads)
        listener = socket.create_server(("127.0.0.1", 0))
        worker = CollectingWorker(age, os.getpid(), [listener], None, 30, config, Logger(config))
        worker.accepted = []
        worker.poller = selectors.DefaultSelector()
        worker.set_accept_enabled(True)
        made.append((worker, listener))
        return worker, listener

    yield make
    for worker, listener in made:
        for conn in worker.accepted:
            conn.close()
        worker.poller.close()
        listener.close()


def connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname(), timeout=5)


def accept_one(worker, listener) -> float:
    """Connect a client and let the worker accept it; returns when the accept started."""
    client = connect(listener)
    worker.clients = [*getattr(worker, "clients", []), client]
    time.sleep(0.05)  # the connection is in the listen queue
    started = time.monotonic()
    worker.accept(listener)
    return started


def test_a_worker_holding_a_thread_per_connection_pauses_then_resumes(make_worker):
    worker, listener = make_worker(workers=2, threads=2)
    accept_one(worker, listener)
    assert worker._accepting  # one connection, two threads: keeps accepting
    accept_one(worker, listener)
    assert not worker._accepting  # as many connections as threads: leaves the next to a sibling
    worker.set_accept_enabled(True)
    assert not worker._accepting  # the run loop cannot switch it back on during the pause
    deadline = time.monotonic() + 5
    while not worker._accepting and time.monotonic() < deadline:
        worker.wait_for_and_dispatch_events(1.0)
    assert worker._accepting  # the pause ends by itself, with no event to wake the loop
    assert len(worker.accepted) == 2
    for client in worker.clients:
        client.close()


def test_a_lone_worker_never_pauses(make_worker):
    worker, listener = make_worker(workers=1, threads=1)
    for _ in range(3):
        accept_one(worker, listener)
        assert worker._accepting
    assert len(worker.accepted) == 3
    for client in worker.clients:
        client.close()


def test_the_pause_grows_with_the_connections_held_up_to_its_bound(make_worker):
    worker, listener = make_worker(workers=2, threads=1)
    for held in range(1, 13):
        worker._accept_paused_until = 0.0
        worker.set_accept_enabled(True)
        started = accept_one(worker, listener)
        remaining = worker._accept_paused_until - time.monotonic()
        expected = min(ApiWorker.ACCEPT_PAUSE_SECONDS * held, ApiWorker.ACCEPT_PAUSE_MAX_SECONDS)
        assert worker._accept_paused_until - started >= expected
        assert remaining <= ApiWorker.ACCEPT_PAUSE_MAX_SECONDS
    for client in worker.clients:
        client.close()


def test_a_worker_pauses_only_while_a_sibling_holds_fewer(make_worker):
    """Two workers of one master share the table of connections held (here in one process)."""
    first, listener = make_worker(workers=2, threads=1, age=101)
    second, other_listener = make_worker(workers=2, threads=1, age=102)
    first.claim_slot()
    second.claim_slot()
    accept_one(second, other_listener)
    accept_one(second, other_listener)
    assert not second._accepting  # it holds two, its sibling none: it leaves the next one
    accept_one(first, listener)
    accept_one(first, listener)
    assert first._accepting  # it holds two and its sibling two: nobody holds fewer
    accept_one(first, listener)
    assert not first._accepting  # three against two: now it leaves the next one
    for client in first.clients + second.clients:
        client.close()
