"""The local malware scanner (development and tests): GuardDuty's verdicts, computed here.

Without clamd it recognises the EICAR anti-malware test file. The EICAR specification says the
68-byte string must *start* the file and may be followed only by whitespace (space, tab, CR, LF,
Ctrl-Z), the whole file being at most 128 bytes; a file that merely contains the string after
other content is not the test file, and is reported clean. With ``CLAMD_SOCKET`` set it streams
the file to clamd over its unix socket with the INSTREAM command instead.

Verdicts use GuardDuty Malware Protection for S3's ``scanResultStatus`` values, so the local
flow and the scan-result Lambda go through the same service code.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

NO_THREATS_FOUND = "NO_THREATS_FOUND"
THREATS_FOUND = "THREATS_FOUND"
UNSUPPORTED = "UNSUPPORTED"
ACCESS_DENIED = "ACCESS_DENIED"
FAILED = "FAILED"
SCAN_STATUSES = (NO_THREATS_FOUND, THREATS_FOUND, UNSUPPORTED, ACCESS_DENIED, FAILED)

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_THREAT = "EICAR-Test-File"
EICAR_MAX_SIZE = 128
# The only characters the EICAR specification allows after the string.
EICAR_TRAILING_WHITESPACE = b" \t\r\n\x1a"

CLAMD_CHUNK_SIZE = 64 * 1024  # well under clamd's default StreamMaxLength (25 MB)
CLAMD_MAX_REPLY = 64 * 1024
# clamd's ExtendedDetectionInfo appends "(<md5>:<size>)" to the signature name.
_EXTENDED_INFO = re.compile(r"\([0-9a-fA-F]{32,64}:\d+\)$")


@dataclass(frozen=True)
class ScanVerdict:
    """One scan's outcome: a GuardDuty status, the threat names and, for failures, why."""

    status: str
    threats: list[str] = field(default_factory=list)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in SCAN_STATUSES:
            raise ValueError(f"unknown scan status {self.status!r}")
        object.__setattr__(self, "threats", list(self.threats))

    @property
    def infected(self) -> bool:
        return self.status == THREATS_FOUND


def is_eicar_test_file(content: bytes) -> bool:
    """True when ``content`` (the whole file, or its first 129 bytes) is the EICAR test file."""
    return (
        len(content) <= EICAR_MAX_SIZE
        and content.startswith(EICAR)
        and not content[len(EICAR) :].strip(EICAR_TRAILING_WHITESPACE)
    )


def parse_clamd_reply(reply: bytes) -> ScanVerdict:
    """clamd's answer to INSTREAM: ``stream: OK``, ``stream: <name> FOUND`` or ``... ERROR``."""
    text = reply.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
    if not text:
        return ScanVerdict(FAILED, reason="clamd closed the connection without an answer")
    body = text.removeprefix("stream:").strip()
    if body == "OK":
        return ScanVerdict(NO_THREATS_FOUND)
    if body.endswith(" FOUND"):
        name = _EXTENDED_INFO.sub("", body.removesuffix(" FOUND").strip()).strip()
        return ScanVerdict(THREATS_FOUND, [name or "unknown"])
    if body.endswith(" ERROR"):
        return ScanVerdict(FAILED, reason=f"clamd: {body.removesuffix(' ERROR').strip()[:200]}")
    return ScanVerdict(FAILED, reason=f"clamd: unexpected answer {body[:200]!r}")


class LocalScanner:
    """Scans a file on the local filesystem; never raises for a scan problem (``FAILED``)."""

    def __init__(
        self,
        clamd_socket: str | None = None,
        *,
        timeout: float = 30.0,
        chunk_size: int = CLAMD_CHUNK_SIZE,
    ):
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.clamd_socket = clamd_socket
        self.timeout = timeout
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"LocalScanner(clamd_socket={self.clamd_socket!r})"

    def scan(self, path: Path) -> ScanVerdict:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            return ScanVerdict(FAILED, reason=f"the file could not be read ({type(exc).__name__})")
        with handle:
            try:
                if self.clamd_socket:
                    return self._clamd(handle)
                return self._eicar(handle)
            except OSError as exc:
                return ScanVerdict(FAILED, reason=f"the scan failed ({type(exc).__name__})")

    @staticmethod
    def _eicar(handle: BinaryIO) -> ScanVerdict:
        if is_eicar_test_file(handle.read(EICAR_MAX_SIZE + 1)):
            return ScanVerdict(THREATS_FOUND, [EICAR_THREAT])
        return ScanVerdict(NO_THREATS_FOUND)

    def _clamd(self, handle: BinaryIO) -> ScanVerdict:
        if not self.clamd_socket:
            return ScanVerdict(FAILED, reason="no clamd socket is configured")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(self.timeout)
            try:
                conn.connect(self.clamd_socket)
            except OSError as exc:
                return ScanVerdict(FAILED, reason=f"clamd is unreachable ({type(exc).__name__})")
            try:
                self._send(conn, handle)
            except (BrokenPipeError, ConnectionResetError):
                # clamd answers and closes early on an error (e.g. the size limit); read it.
                pass
            except TimeoutError:
                return ScanVerdict(FAILED, reason="clamd timed out")
            try:
                reply = self._receive(conn)
            except TimeoutError:
                return ScanVerdict(FAILED, reason="clamd timed out")
            except OSError as exc:
                return ScanVerdict(
                    FAILED, reason=f"clamd dropped the connection ({type(exc).__name__})"
                )
        return parse_clamd_reply(reply)

    def _send(self, conn: socket.socket, handle: BinaryIO) -> None:
        conn.sendall(b"zINSTREAM\0")
        while chunk := handle.read(self.chunk_size):
            conn.sendall(struct.pack("!I", len(chunk)) + chunk)
        conn.sendall(struct.pack("!I", 0))

    @staticmethod
    def _receive(conn: socket.socket) -> bytes:
        reply = b""
        while b"\0" not in reply and len(reply) < CLAMD_MAX_REPLY:
            data = conn.recv(4096)
            if not data:
                break
            reply += data
        return reply
