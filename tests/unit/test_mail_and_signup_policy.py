"""The SMTP outbox against a real local SMTP server (aiosmtpd), and who may sign up.

* Delivery is retried with backoff when the server answers a temporary failure, and a server
  that never accepts is given up on after the configured attempts, without raising.
* STARTTLS is never downgraded: a server that does not offer it receives nothing.
* The SMTP password never appears in a repr, and settings that would send it in clear refuse
  to load.
* The sign-up policy: invited, domains (and without e-mail, the open form is refused), closed.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr, ValidationError

from sealroom.server.embedded import free_port
from sealroom.server.invitations import SignupPolicy
from sealroom.server.mail import Outbox, OutgoingMail, SmtpConfig
from sealroom.server.settings import Settings


class FlakyHandler:
    """Refuses the first ``refusals`` messages with 451 (try again later), then accepts."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.attempts = 0
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.attempts <= self.refusals:
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[FlakyHandler, int]]:
    handler = FlakyHandler(refusals=2)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _config(port: int, *, security: str = "none", attempts: int = 4) -> SmtpConfig:
    return SmtpConfig(
        host="127.0.0.1",
        port=port,
        security=security,
        username="",
        password=SecretStr(""),
        sender="sealroom@platform.example",
        timeout_seconds=5,
        attempts=attempts,
        retry_seconds=0.01,
    )


def _mail(sent: threading.Event | None = None) -> OutgoingMail:
    return OutgoingMail(
        recipient="carol@analytics.example",
        subject="Invitation to the data clean room a\nb",
        body="hello\n",
        description="invitation to room 0123",
        on_sent=None if sent is None else sent.set,
    )


def test_a_temporary_refusal_is_retried_until_delivered(
    smtp: tuple[FlakyHandler, int],
) -> None:
    handler, port = smtp
    sent = threading.Event()
    outbox = Outbox(_config(port))
    try:
        outbox.submit(_mail(sent))
        assert sent.wait(10)
    finally:
        outbox.close()
    assert handler.attempts == 3
    [message] = handler.messages
    assert message["To"] == "carol@analytics.example"
    # A line break in a room name never reaches a header.
    assert message["Subject"] == "Invitation to the data clean room a b"
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_server_that_never_accepts_is_given_up_without_raising(
    smtp: tuple[FlakyHandler, int], caplog: pytest.LogCaptureFixture
) -> None:
    handler, port = smtp
    handler.refusals = 100
    sent = threading.Event()
    outbox = Outbox(_config(port, attempts=3))
    try:
        outbox.submit(_mail(sent))
        assert outbox.wait_idle(10)
    finally:
        outbox.close()
    assert not sent.is_set()
    assert handler.attempts == 3
    assert "given up after 3 attempts" in caplog.text


def test_starttls_is_never_downgraded_to_plain_text(smtp: tuple[FlakyHandler, int]) -> None:
    handler, port = smtp
    handler.refusals = 0
    outbox = Outbox(_config(port, security="starttls", attempts=1))
    try:
        outbox.submit(_mail())
        assert outbox.wait_idle(10)
    finally:
        outbox.close()
    assert handler.attempts == 0  # the server offers no STARTTLS: nothing was sent


def test_the_smtp_password_is_never_shown() -> None:
    settings = Settings(
        smtp_host="smtp.example",
        smtp_from="sealroom@platform.example",
        smtp_username="sealroom",
        smtp_password=SecretStr("hunter2-secret"),
    )
    config = SmtpConfig.from_settings(settings)
    assert config is not None
    assert config.port == 587  # STARTTLS by default
    assert "hunter2" not in repr(config)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"smtp_host": "smtp.example"}, "smtp_from"),
        (
            {
                "smtp_host": "smtp.example",
                "smtp_from": "a@b.example",
                "smtp_security": "none",
                "smtp_password": "x",
            },
            "starttls or ssl",
        ),
        ({"signup": "domains"}, "signup_domains"),
        ({"public_url": "ftp://x"}, "http"),
    ],
)
def test_unsafe_or_incomplete_mail_settings_refuse_to_load(
    values: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings(**values)  # type: ignore[arg-type]


def test_signup_policy() -> None:
    invited = SignupPolicy("invited", frozenset(), can_mail=True)
    assert invited.refusal("a@x.example", invited=True) is None
    assert "invitation only" in (invited.refusal("a@x.example", invited=False) or "")

    domains = SignupPolicy("domains", frozenset({"bank.example"}), can_mail=True)
    assert domains.refusal("a@bank.example", invited=False) is None
    assert domains.refusal("a@x.example", invited=True) is None
    # Exact domains only: a look-alike or a subdomain is another domain.
    for other in ("a@evilbank.example", "a@bank.example.evil", "a@sub.bank.example"):
        assert domains.refusal(other, invited=False) is not None
    assert domains.open_form_refusal() is None

    unmailed = SignupPolicy("domains", frozenset({"bank.example"}), can_mail=False)
    assert "cannot send e-mail" in (unmailed.domain_signup_refusal("a@bank.example") or "")
    assert unmailed.open_form_refusal() is not None

    closed = SignupPolicy("closed", frozenset({"bank.example"}), can_mail=True)
    assert closed.refusal("a@bank.example", invited=True) is not None
    assert closed.refusal("a@bank.example", invited=False) is not None

    settings = Settings(signup="domains", signup_domains=" Bank.example, @insurer.example ,")
    assert settings.signup_domain_set == {"bank.example", "insurer.example"}


def test_every_setting_docs_invitations_names_exists() -> None:
    text = (Path(__file__).parents[2] / "docs" / "invitations.md").read_text()
    named = {name.lower() for name in re.findall(r"SEALROOM_([A-Z_]+)", text)}
    assert {"smtp_host", "smtp_password", "signup", "signup_domains", "public_url"} <= named
    assert named <= set(Settings.model_fields), named - set(Settings.model_fields)
