"""The local malware scanner (development and tests): GuardDuty's verdicts, computed here.

Without clamd it recognises the EICAR test file, which the EICAR specification says must start
the file (optionally followed by whitespace, 128 bytes at most). With ``CLAMD_SOCKET`` it streams
the file to clamd with the INSTREAM command.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MAX_SIZE = 128
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ScanVerdict:
    status: str  # NO_THREATS_FOUND | THREATS_FOUND | UNSUPPORTED | ACCESS_DENIED | FAILED
    threats: list[str] = field(default_factory=list)
    reason: str | None = None


class LocalScanner:
    def __init__(self, clamd_socket: str | None = None, timeout: float = 30.0):
        self.clamd_socket = clamd_socket
        self.timeout = timeout

    def scan(self, path: Path) -> ScanVerdict:
        try:
            if self.clamd_socket:
                return self._clamd(path)
            return self._eicar(path)
        except OSError as exc:
            return ScanVerdict("FAILED", reason=f"could not scan: {type(exc).__name__}")

    @staticmethod
    def _eicar(path: Path) -> ScanVerdict:
        with open(path, "rb") as handle:
            head = handle.read(EICAR_MAX_SIZE + 1)
        if (
            len(head) <= EICAR_MAX_SIZE
            and head.startswith(EICAR)
            and not head[len(EICAR) :].strip()
        ):
            return ScanVerdict("THREATS_FOUND", ["EICAR-Test-File"])
        return ScanVerdict("NO_THREATS_FOUND")

    def _clamd(self, path: Path) -> ScanVerdict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn, open(path, "rb") as handle:
            conn.settimeout(self.timeout)
            conn.connect(self.clamd_socket)
            conn.sendall(b"zINSTREAM\0")
            while chunk := handle.read(CHUNK):
                conn.sendall(struct.pack("!L", len(chunk)) + chunk)
            conn.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                data = conn.recv(4096)
                if not data:
                    break
                reply += data
        answer = reply.rstrip(b"\0").decode(errors="replace").strip()
        if answer.endswith("OK"):
            return ScanVerdict("NO_THREATS_FOUND")
        if answer.endswith("FOUND"):
            name = answer.removeprefix("stream:").strip().removesuffix("FOUND").strip()
            return ScanVerdict("THREATS_FOUND", [name or "unknown"])
        return ScanVerdict("FAILED", reason=f"clamd: {answer[:200] or 'no answer'}")
