"""SMTP: settings from config, building the MIME message, and one connection per delivery pass."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from types import TracebackType
from typing import Any

DEFAULT_DOMAIN = "complaints.local"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: read once from the app config (SMTP_* and MAIL_FROM)."""

    host: str = ""
    port: int = 0
    starttls: bool = False
    ssl: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    mail_from: str = f"complaints@{DEFAULT_DOMAIN}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=config.get("SMTP_HOST") or "",
            port=int(config.get("SMTP_PORT") or 0),
            starttls=bool(config.get("SMTP_STARTTLS")),
            ssl=bool(config.get("SMTP_SSL")),
            username=config.get("SMTP_USERNAME") or "",
            password=config.get("SMTP_PASSWORD") or "",
            timeout=float(config.get("SMTP_TIMEOUT") or 30.0),
            mail_from=config.get("MAIL_FROM") or f"complaints@{DEFAULT_DOMAIN}",
        )

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


def mail_domain(mail_from: str | None) -> str:
    """The domain of the sender address, used on the right of generated Message-IDs."""
    address = parseaddr(mail_from or "")[1]
    domain = address.rpartition("@")[2].strip().lower()
    return domain or DEFAULT_DOMAIN


def build_message(
    *,
    mail_from: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The same bytes on every retry: Message-ID and Date come from the stored row."""
    # 7-bit transfer encodings, so any server relays it intact (no 8BITMIME needed).
    msg = EmailMessage(policy=SMTP_POLICY.clone(cte_type="7bit"))
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date.replace(tzinfo=UTC) if date.tzinfo is None else date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body_text, charset="utf-8")
    if body_html:
        msg.add_alternative(body_html, subtype="html", charset="utf-8")
        # A boundary derived from the Message-ID rather than random: a resend is byte-identical.
        msg.set_boundary("=_" + hashlib.sha256(message_id.encode()).hexdigest()[:40])
    return msg


class SmtpConnection:
    """Opens lazily, reused for a pass; send() returns only once the server accepted the mail."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        if s.ssl:
            smtp = smtplib.SMTP_SSL(
                s.host, s.effective_port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.starttls and not s.ssl:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def connect(self) -> None:
        """Open the connection if it is not open (raises when the server cannot be reached)."""
        if self._smtp is None:
            self._smtp = self._open()

    def send(self, msg: EmailMessage) -> None:
        """Raise unless the server accepted the message for its recipient."""
        self.connect()
        assert self._smtp is not None
        try:
            self._smtp.send_message(msg, from_addr=parseaddr(self.settings.mail_from)[1] or None)
        except smtplib.SMTPServerDisconnected:
            self.close()
            raise
        except smtplib.SMTPException:
            # A refusal of this message: reset so the connection serves the next one.
            try:
                self._smtp.rset()
            except OSError:  # smtplib's errors are OSErrors too
                self.close()
            raise
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except OSError:  # smtplib's errors are OSErrors too
            smtp.close()

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
