"""The local scanner: the EICAR rule without clamd, and clamd's INSTREAM protocol against a fake
clamd listening on a real unix socket.

EICAR choice: the EICAR specification requires the 68-byte string to start the file, optionally
followed only by whitespace (space, tab, CR, LF, Ctrl-Z) up to 128 bytes in all. A file with the
string after other content, or followed by anything else, is not the test file and is clean.
"""

from __future__ import annotations

import shutil
import socket
import struct
import tempfile
import threading
from pathlib import Path

import pytest

from app.integrations.scanner import LocalScanner, ScanVerdict, parse_clamd_reply

# Written out here rather than imported, so a damaged constant in the scanner fails the tests.
EICAR_TEXT = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_BYTES = EICAR_TEXT.encode("ascii")


def write(tmp_path: Path, content: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# ----- without clamd: the EICAR test file -----------------------------------------------------


def test_the_eicar_string_is_the_standard_68_bytes():
    assert len(EICAR_BYTES) == 68


def test_eicar_file_is_detected(tmp_path):
    verdict = LocalScanner().scan(write(tmp_path, EICAR_BYTES))
    assert verdict == ScanVerdict("THREATS_FOUND", ["EICAR-Test-File"])
    assert verdict.infected


@pytest.mark.parametrize(
    "suffix",
    [b"\n", b"\r\n", b" \t\r\n\x1a", b" " * (128 - 68)],
    ids=["newline", "crlf", "all-allowed-whitespace", "padded-to-128-bytes"],
)
def test_eicar_followed_by_whitespace_is_detected(tmp_path, suffix):
    verdict = LocalScanner().scan(write(tmp_path, EICAR_BYTES + suffix))
    assert (verdict.status, verdict.threats) == ("THREATS_FOUND", ["EICAR-Test-File"])


@pytest.mark.parametrize(
    "content",
    [
        b"Dear hiring manager,\n" + EICAR_BYTES,  # in the middle, after other content
        b" " + EICAR_BYTES,  # not at the very start
        EICAR_BYTES + b" " * (129 - 68),  # 129 bytes: longer than the specification allows
        EICAR_BYTES + b"\nthanks",  # followed by something other than whitespace
        EICAR_BYTES + b"\x0b",  # vertical tab is not one of the allowed whitespace characters
        EICAR_BYTES[:-1],  # truncated
    ],
    ids=["after-content", "leading-space", "129-bytes", "trailing-text", "vertical-tab", "cut"],
)
def test_eicar_only_at_the_start_of_a_small_file_counts(tmp_path, content):
    assert LocalScanner().scan(write(tmp_path, content)) == ScanVerdict("NO_THREATS_FOUND")


@pytest.mark.parametrize("content", [b"", b"Curriculum vitae\n" * 1000, bytes(range(256)) * 64])
def test_benign_files_are_clean(tmp_path, content):
    verdict = LocalScanner().scan(write(tmp_path, content))
    assert (verdict.status, verdict.threats, verdict.reason) == ("NO_THREATS_FOUND", [], None)


def test_missing_file_fails_with_a_reason(tmp_path):
    verdict = LocalScanner().scan(tmp_path / "missing")
    assert verdict.status == "FAILED"
    assert verdict.reason == "the file could not be read (FileNotFoundError)"


def test_unreadable_path_fails(tmp_path):
    verdict = LocalScanner().scan(tmp_path)  # a directory
    assert verdict.status == "FAILED" and verdict.reason


def test_a_verdict_accepts_only_guardduty_statuses():
    for status in ("NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED"):
        assert ScanVerdict(status).status == status
    with pytest.raises(ValueError):
        ScanVerdict("CLEAN")


# ----- with clamd: INSTREAM over a unix socket ------------------------------------------------


class FakeClamd:
    """A clamd stand-in on a real unix socket: it reads the command and the length-prefixed
    chunks exactly as clamd does, records them, and answers ``reply`` NUL-terminated."""

    def __init__(self, path: Path, reply: bytes | None, *, stop_after_first_chunk: bool = False):
        self.path = path
        self.reply = reply
        self.stop_after_first_chunk = stop_after_first_chunk
        self.command = b""
        self.chunk_lengths: list[int] = []
        self.received = b""
        self.error: BaseException | None = None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _exactly(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = conn.recv(size - len(data))
            if not more:
                raise ConnectionError("client closed mid-frame")
            data += more
        return data

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(10)
                self.command = self._exactly(conn, len(b"zINSTREAM\0"))
                while True:
                    (length,) = struct.unpack("!I", self._exactly(conn, 4))
                    self.chunk_lengths.append(length)
                    if length == 0:
                        break
                    self.received += self._exactly(conn, length)
                    if self.stop_after_first_chunk:
                        break
                if self.reply is not None:
                    conn.sendall(self.reply + b"\0")
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc
        finally:
            self.listener.close()

    def finish(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def sock_dir():
    # A short directory: a unix socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="clamd", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_clamd_receives_the_file_in_framed_chunks(tmp_path, sock_dir):
    clamd = FakeClamd(sock_dir / "c.sock", b"stream: OK")
    content = (bytes(range(256)) * 10)[:2500]
    scanner = LocalScanner(str(sock_dir / "c.sock"), chunk_size=1000)
    verdict = scanner.scan(write(tmp_path, content))
    clamd.finish()
    assert clamd.command == b"zINSTREAM\0"
    assert clamd.chunk_lengths == [1000, 1000, 500, 0]  # big-endian lengths, then a zero chunk
    assert clamd.received == content
    assert verdict == ScanVerdict("NO_THREATS_FOUND")


def test_clamd_default_chunks_cover_a_multi_chunk_file(tmp_path, sock_dir):
    clamd = FakeClamd(sock_dir / "c.sock", b"stream: OK")
    content = b"0123456789abcdef" * 10_000  # 160,000 bytes
    LocalScanner(str(sock_dir / "c.sock")).scan(write(tmp_path, content))
    clamd.finish()
    assert clamd.chunk_lengths == [65536, 65536, 160_000 - 2 * 65536, 0]
    assert clamd.received == content


def test_clamd_empty_file_sends_only_the_terminating_chunk(tmp_path, sock_dir):
    clamd = FakeClamd(sock_dir / "c.sock", b"stream: OK")
    verdict = LocalScanner(str(sock_dir / "c.sock")).scan(write(tmp_path, b""))
    clamd.finish()
    assert (clamd.chunk_lengths, clamd.received, verdict.status) == ([0], b"", "NO_THREATS_FOUND")


@pytest.mark.parametrize(
    "reply,status,threats,reason",
    [
        (b"stream: OK", "NO_THREATS_FOUND", [], None),
        (b"stream: Win.Test.EICAR_HDB-1 FOUND", "THREATS_FOUND", ["Win.Test.EICAR_HDB-1"], None),
        (
            b"stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND",
            "THREATS_FOUND",
            ["Eicar-Signature"],
            None,
        ),
        (
            b"INSTREAM size limit exceeded. ERROR",
            "FAILED",
            [],
            "clamd: INSTREAM size limit exceeded.",
        ),
        (b"stream: Can't allocate memory ERROR", "FAILED", [], "clamd: Can't allocate memory"),
        (b"UNKNOWN COMMAND", "FAILED", [], "clamd: unexpected answer 'UNKNOWN COMMAND'"),
    ],
    ids=["ok", "found", "found-extended-info", "size-limit", "error", "unknown"],
)
def test_clamd_replies(tmp_path, sock_dir, reply, status, threats, reason):
    clamd = FakeClamd(sock_dir / "c.sock", reply)
    content = EICAR_BYTES if status == "THREATS_FOUND" else b"a cover letter\n" * 100
    verdict = LocalScanner(str(sock_dir / "c.sock")).scan(write(tmp_path, content))
    clamd.finish()
    assert clamd.received == content
    assert verdict == ScanVerdict(status, threats, reason)


def test_clamd_closing_without_an_answer_fails(tmp_path, sock_dir):
    clamd = FakeClamd(sock_dir / "c.sock", None)
    verdict = LocalScanner(str(sock_dir / "c.sock")).scan(write(tmp_path, b"hello"))
    clamd.finish()
    assert verdict == ScanVerdict("FAILED", reason="clamd closed the connection without an answer")


def test_clamd_answer_and_close_mid_stream_is_read(tmp_path, sock_dir):
    # clamd stops reading and answers as soon as a stream passes StreamMaxLength.
    clamd = FakeClamd(
        sock_dir / "c.sock", b"INSTREAM size limit exceeded. ERROR", stop_after_first_chunk=True
    )
    content = b"x" * (8 * 1024 * 1024)
    verdict = LocalScanner(str(sock_dir / "c.sock")).scan(write(tmp_path, content))
    clamd.finish()
    assert clamd.chunk_lengths == [65536]
    assert verdict == ScanVerdict("FAILED", reason="clamd: INSTREAM size limit exceeded.")


def test_clamd_not_listening_fails(tmp_path, sock_dir):
    verdict = LocalScanner(str(sock_dir / "absent.sock")).scan(write(tmp_path, b"hello"))
    assert verdict.status == "FAILED"
    assert verdict.reason == "clamd is unreachable (FileNotFoundError)"


def test_clamd_that_never_answers_times_out(tmp_path, sock_dir):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_dir / "c.sock"))
    listener.listen(1)  # accepts the connection in the backlog, never reads or answers
    try:
        scanner = LocalScanner(str(sock_dir / "c.sock"), timeout=0.5)
        verdict = scanner.scan(write(tmp_path, b"hello"))
    finally:
        listener.close()
    assert verdict == ScanVerdict("FAILED", reason="clamd timed out")


def test_unreadable_file_fails_before_contacting_clamd(tmp_path, sock_dir):
    verdict = LocalScanner(str(sock_dir / "absent.sock")).scan(tmp_path / "missing")
    assert verdict.reason == "the file could not be read (FileNotFoundError)"


def test_parse_clamd_reply_ignores_what_follows_the_terminator():
    assert parse_clamd_reply(b"stream: OK\0garbage").status == "NO_THREATS_FOUND"
