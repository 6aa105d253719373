"""Email the monthly review pack to the shop's value owner over SMTP.

SMTP_URL: `smtp://host:port` (plain, e.g. a local relay), `smtp://…?starttls=1` (upgrade
with STARTTLS), `smtps://host:465` (TLS from the start); user and password in the URL's
userinfo. The standard library's client runs in a thread: one message a shop a month does
not justify another dependency. The password never reaches a log line.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import parse_qs, unquote, urlsplit

from plugin.settings import Settings

TIMEOUT_S = 30.0


class MailNotConfigured(Exception):
    """SMTP_URL is not set: the pack is stored and shown, not emailed."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool
    starttls: bool
    username: str | None
    password: str | None


def smtp_target(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailNotConfigured("SMTP_URL is not set")
    tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if tls else 25),
        tls=tls,
        starttls=query.get("starttls", ["0"])[0] in ("1", "true"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def compose(
    *, sender: str, to_name: str | None, to_email: str, shop: str, month: str, html: str, text: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((to_name or "", to_email))
    message["Subject"] = f"Value review {month} for {shop} is ready"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _send(target: SmtpTarget, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if target.tls:
        client = smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_S)
    with client:
        if target.starttls:
            client.starttls(context=context)
        if target.username and target.password:
            client.login(target.username, target.password)
        client.send_message(message)


async def send(settings: Settings, message: EmailMessage) -> None:
    """Send one message; MailNotConfigured without SMTP_URL, OSError/SMTPException else."""
    target = smtp_target(settings.smtp_url.get())
    await asyncio.to_thread(_send, target, message)
