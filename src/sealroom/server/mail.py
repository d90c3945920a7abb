"""E-mail through an SMTP server, sent off the request path.

* :class:`SmtpConfig` is what the settings say (host, port, STARTTLS / implicit TLS / none,
  login); the password is a ``SecretStr`` and is never logged or put in an error.
* :func:`send_message` delivers one message (stdlib ``smtplib``); TLS is verified against the
  system's CAs (``ssl.create_default_context``), never skipped.
* :class:`Outbox` is one background thread with a queue: a publication enqueues and returns;
  delivery is retried with exponential backoff, and a failure is logged — by the recipient and
  the kind of e-mail, never with the message, whose body may hold a sign-up link (a credential).

An e-mail is the host's own courtesy: nothing here is trusted, and an SMTP server that is down
only delays or loses e-mails (the invitations stay recorded, the inbox shows them).
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import SecretStr

from sealroom.server.settings import Settings

__all__ = ["Outbox", "OutgoingMail", "SmtpConfig", "one_line", "send_message"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "starttls", "ssl" or "none"
    username: str
    password: SecretStr = field(repr=False)
    sender: str
    timeout_seconds: float
    #: Attempts per e-mail, and the wait before the second one (doubling after each).
    attempts: int
    retry_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """None when no SMTP server is configured (then no e-mail is sent at all)."""
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.effective_smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout_seconds=settings.smtp_timeout_seconds,
            attempts=settings.smtp_attempts,
            retry_seconds=settings.smtp_retry_seconds,
        )


def send_message(config: SmtpConfig, message: EmailMessage) -> None:
    """Deliver ``message`` once; raises ``OSError`` / ``smtplib.SMTPException`` on failure."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if config.security == "ssl":
        client = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout_seconds, context=context
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
    with client:
        if config.security == "starttls":
            # A server that does not offer STARTTLS raises here: never fall back to plain text.
            client.starttls(context=context)
        if config.username:
            client.login(config.username, config.password.get_secret_value())
        client.send_message(message)


def one_line(text: str) -> str:
    """``text`` fit for a header: no line breaks or other control characters (a room name is
    chosen by its creator; a newline in a Subject would be refused, or worse, injected)."""
    return "".join(" " if not c.isprintable() else c for c in text).strip()


@dataclass(frozen=True)
class OutgoingMail:
    """One e-mail to send: the message and what to say of it in logs (never its body)."""

    recipient: str
    subject: str
    body: str
    #: For logs: e.g. "invitation to room 1a2b3c4d5e6f" — never a link.
    description: str
    #: Called (on the outbox's thread) once the SMTP server accepted the message.
    on_sent: Callable[[], None] | None = None

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = Address(addr_spec=self.recipient)
        message["Subject"] = one_line(self.subject)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        message.set_content(self.body)
        return message


_STOP = object()


class Outbox:
    """Sends e-mails on one background thread, in order, retrying each a few times.

    :meth:`submit` never blocks and never raises for a delivery problem: whatever happens to
    the e-mail, the request that asked for it has already succeeded.
    """

    def __init__(self, config: SmtpConfig, *, sleep: Callable[[float], bool] | None = None):
        self.config = config
        self._queue: queue.Queue[object] = queue.Queue()
        self._stopping = threading.Event()
        # Waits between attempts end early when the outbox closes.
        self._sleep = sleep or (lambda seconds: self._stopping.wait(seconds))
        self._thread = threading.Thread(target=self._run, name="sealroom-outbox", daemon=True)
        self._thread.start()

    def submit(self, mail: OutgoingMail) -> None:
        self._queue.put(mail)

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the e-mail being sent (waits at most ``timeout`` seconds); e-mails still
        queued are dropped (the invitations stay recorded, unmarked as mailed)."""
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: wait until every submitted e-mail was handled."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, OutgoingMail) and not self._stopping.is_set():
                self._deliver(item)

    def _deliver(self, mail: OutgoingMail) -> None:
        delay = self.config.retry_seconds
        for attempt in range(1, self.config.attempts + 1):
            try:
                send_message(self.config, mail.message(self.config.sender))
            except (OSError, smtplib.SMTPException) as exc:
                # The class and SMTP code say what went wrong; the exception's text could quote
                # what the server echoed back, so it is not logged.
                code = getattr(exc, "smtp_code", None)
                logger.warning(
                    "e-mail (%s) to %s not sent, attempt %d of %d: %s%s",
                    mail.description,
                    mail.recipient,
                    attempt,
                    self.config.attempts,
                    type(exc).__name__,
                    f" {code}" if code else "",
                )
                if attempt == self.config.attempts or self._sleep(delay):
                    break
                delay *= 2
                continue
            logger.info("e-mail (%s) sent to %s", mail.description, mail.recipient)
            if mail.on_sent is not None:
                try:
                    mail.on_sent()
                except Exception:  # a bookkeeping failure must not stop the outbox
                    logger.exception("could not record the e-mail (%s) as sent", mail.description)
            return
        logger.error(
            "e-mail (%s) to %s given up after %d attempts",
            mail.description,
            mail.recipient,
            self.config.attempts,
        )
