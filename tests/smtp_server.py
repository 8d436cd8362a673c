"""A local SMTPS server (aiosmtpd over implicit TLS, certificate from a trustme CA) that records
what it accepts, for the Gmail/SMTP adapter's tests and the email flows driven through it."""

from __future__ import annotations

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class RecordingHandler:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.original_content or envelope.content,
                "authenticated_as": session.auth_data.login.decode(),
                "tls": server.transport.get_extra_info("ssl_object") is not None,
            }
        )
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, user: str, password: str):
        self.user = user
        self.password = password
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((mechanism, login))
        ok = login == self.user and password == self.password
        if not ok:
            return AuthResult(success=False, handled=False)  # the server answers 535
        return AuthResult(success=True, auth_data=auth_data)


class SmtpsController(Controller):
    """Binds port 0 and reads back the port the system chose, so tests never collide."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
