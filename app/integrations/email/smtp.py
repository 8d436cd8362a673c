"""Gmail (or any SMTP submission server) over implicit TLS, logging in with an app password."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid

import structlog

from app.integrations.email.base import EmailDeliveryError, EmailMessage

log = structlog.get_logger("app.email.smtp")

DEFAULT_TIMEOUT = 10.0


class GmailSmtpSender:
    """``SMTP_SSL`` with a verifying TLS context: the server's certificate must chain to a
    trusted CA and match ``host`` before the app password is sent.

    The From address is the authenticated account, because Gmail rewrites any other sender.
    """

    provider = "gmail"

    def __init__(
        self,
        *,
        user: str,
        app_password: str,
        host: str = "smtp.gmail.com",
        port: int = 465,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.user = user
        self._app_password = app_password
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        if self.ssl_context.verify_mode != ssl.CERT_REQUIRED or not self.ssl_context.check_hostname:
            raise ValueError("the SMTP TLS context must verify the server's certificate and name")

    def __repr__(self) -> str:
        return f"GmailSmtpSender(host={self.host!r}, port={self.port}, user={self.user!r})"

    def build_mime(self, message: EmailMessage) -> MimeMessage:
        mime = MimeMessage()
        mime["From"] = self.user
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(usegmt=True)
        mime["Message-ID"] = make_msgid(domain=self.user.rpartition("@")[2] or None)
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        return mime

    def send(self, message: EmailMessage) -> None:
        mime = self.build_mime(message)
        try:
            with smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            ) as smtp:
                smtp.login(self.user, self._app_password)
                smtp.send_message(mime)
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailDeliveryError(
                self.provider, f"authentication failed (SMTP {exc.smtp_code})"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise EmailDeliveryError(self.provider, f"SMTP {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise EmailDeliveryError(self.provider, "recipient refused") from None
        except smtplib.SMTPException as exc:
            raise EmailDeliveryError(self.provider, type(exc).__name__) from None
        except ssl.SSLCertVerificationError as exc:
            raise EmailDeliveryError(
                self.provider, f"TLS certificate rejected ({exc.verify_message})"
            ) from None
        except ssl.SSLError as exc:
            raise EmailDeliveryError(self.provider, f"TLS failed ({exc.reason})") from None
        except TimeoutError:
            raise EmailDeliveryError(self.provider, "connection timed out") from None
        except OSError as exc:
            raise EmailDeliveryError(
                self.provider, f"connection failed ({type(exc).__name__})"
            ) from None
        log.info("email.sent", provider=self.provider, message_id=mime["Message-ID"])
