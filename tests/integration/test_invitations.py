"""Invitations, sign-up links, the inbox and e-mail through SMTP (issue 19, item 5), against
real ``sealroom serve`` subprocesses and a real local SMTP server (aiosmtpd) the test starts.

* Publishing a room e-mails each invited participant once: a sign-up link to one without an
  account, the room's page to one with an account (and no sign-up token for them).
* The sign-up link creates the account once (httpx, and in Chromium); the token it shows works
  with the SDK; a second use, or an expired link, answers 410; a link is never in the server's
  log nor in clear in its database.
* The policies: "invited" refuses an address nobody invited; "domains" e-mails a link to an
  address of its domains only, and without SMTP refuses (it could not prove the address);
  "closed" issues no link at all.
* The inbox lists the room, and a pending request for the data owner who must approve it.
* Without SMTP the server still publishes and records invitations, which ``sealroom user
  invitations`` lists (links only with ``--show-links``); an SMTP server that is down never
  fails a publication.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.server.embedded import free_port
from tests.integration.axe import serious_violations
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    OUTSIDER,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

SENDER = "sealroom@platform.example"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/signup/([A-Za-z0-9_-]{43})")
TOKEN_SHOWN = re.compile(r'id="api-token"[^>]*value="(sr_[A-Za-z0-9_-]+)"')
MAIL_WAIT_SECONDS = 30


class Mailbox:
    """A handler for aiosmtpd that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(parsed)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, recipient: str) -> EmailMessage:
        """The first message to ``recipient``, waiting for it (it is sent in the background)."""
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        with self._arrived:
            while True:
                for message in self.messages:
                    if message["To"] == recipient:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no e-mail to {recipient}: {self.to()}")
                self._arrived.wait(left)

    def to(self) -> list[str]:
        return [str(m["To"]) for m in self.messages]


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "SEALROOM_SMTP_HOST": "127.0.0.1",
        "SEALROOM_SMTP_PORT": str(port),
        "SEALROOM_SMTP_SECURITY": "none",
        "SEALROOM_SMTP_FROM": SENDER,
        "SEALROOM_SMTP_RETRY_SECONDS": "0.2",
        **extra,
    }


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The SDK's state (participants' signing keys) of this module, not the user's."""
    path = tmp_path_factory.mktemp("sdk-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEALROOM_STATE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Mailbox, int], state_dir: Path
) -> Iterator[ServerProcess]:
    """SMTP configured, the default policy ("invited")."""
    started = start_server(tmp_path_factory.mktemp("invitations"), _smtp_env(smtp[1]))
    try:
        yield started
    finally:
        stop_server(started)


def _client(server: ServerProcess, email_address: str, token: str) -> sr.Client:
    return sr.create_client(email_address, token, api_url=server.url)


def _publish(
    client: sr.Client, owner: str, others: list[str], *, name: str, interactive: bool = False
) -> AnalyticsDcr:
    """``owner`` owns ``customers``; the first of ``others`` owns ``policies``."""
    table = [Column(name="id", format_type=FormatType.INTEGER, is_nullable=False)]
    builder = (
        AnalyticsDcrBuilder(client=client)
        .with_name(name)
        .with_owner(owner)
        .with_interactivity(interactive)
        .add_node_definition(TableDataNodeDefinition("customers", table, is_required=True))
        .add_node_definition(TableDataNodeDefinition("policies", table, is_required=True))
    )
    builder.add_participant(owner, data_owner_of=["customers"])
    for index, other in enumerate(others):
        builder.add_participant(other, data_owner_of=["policies"] if index == 0 else [])
    return client.publish_analytics_dcr(builder.build())


def _signup_link(message: EmailMessage, server: ServerProcess) -> tuple[str, str]:
    found = LINK.search(body(message))
    assert found is not None, body(message)
    assert found.group(1) == server.url
    return found.group(0), found.group(2)


def _create_account(link: str) -> str:
    """Follow the link as a person would (GET, then the button's POST); the shown token."""
    with httpx.Client() as web:
        page = web.get(link)
        assert page.status_code == 200, page.text
        created = web.post(link)
    assert created.status_code == 201, created.text
    found = TOKEN_SHOWN.search(created.text)
    assert found is not None, created.text
    assert "Keep it safe" in created.text
    assert "what you log in with" in created.text
    assert "SDK" in created.text
    return found.group(1)


def _me(server: ServerProcess, token: str) -> str:
    answer = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["email"])


def test_publishing_invites_each_participant_once_and_the_link_creates_the_account(
    server: ServerProcess, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    bank = server.add_user(BANK)
    server.add_user(INSURER)  # has an account: gets the room's page, no sign-up link
    dcr = _publish(_client(server, BANK, bank), BANK, [INSURER, ANALYST], name="bank x insurer")

    to_analyst = mailbox.wait_for(ANALYST)
    to_insurer = mailbox.wait_for(INSURER)
    assert to_analyst["From"] == SENDER
    assert "bank x insurer" in str(to_analyst["Subject"])
    assert f"{BANK} invited you" in body(to_analyst)
    link, token = _signup_link(to_analyst, server)
    assert f"{server.url}/rooms/{dcr.id}" in body(to_insurer)
    assert LINK.search(body(to_insurer)) is None
    assert "signup" not in body(to_insurer)
    time.sleep(0.5)  # nothing more arrives: one e-mail per invited participant, none to BANK
    assert sorted(t for t in mailbox.to() if t in (BANK, INSURER, ANALYST)) == [INSURER, ANALYST]

    # The page shows the address and the room; a GET changes nothing (it still works after).
    with httpx.Client() as web:
        page = web.get(link)
        assert page.status_code == 200
        assert ANALYST in page.text
        assert "bank x insurer" in page.text
        assert page.headers["cache-control"] == "no-store"
        # The URL holds the link's token: it never goes to another site in a Referer.
        assert page.headers["referrer-policy"] in ("no-referrer", "same-origin")
        # A page of another site cannot spend the link.
        for forged in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            assert web.post(link, headers=forged).status_code == 403
    api_token = _create_account(link)
    assert _me(server, api_token) == ANALYST

    # The new account is a participant like any other: the SDK opens the room it was invited to.
    analyst = _client(server, ANALYST, api_token).retrieve_analytics_dcr(dcr.id)
    assert analyst.id == dcr.id

    # One-time: the second use, and even looking at it again, answer 410 Gone.
    with httpx.Client() as web:
        again = web.post(link)
        assert again.status_code == 410
        assert "already been used" in again.text
        assert api_token not in again.text
        assert web.get(link).status_code == 410

    # The inbox of the new account lists the room and who invited them.
    inbox = httpx.get(
        f"{server.url}/v1/inbox", headers={"Authorization": f"Bearer {api_token}"}
    ).json()
    assert [(r["room_id"], r["name"], r["invited_by"]) for r in inbox["rooms"]] == [
        (dcr.id, "bank x insurer", BANK)
    ]

    # The sign-up token is nowhere in clear: not in the log, not in any file of the data dir
    # (the database keeps its SHA-256 only).
    assert token not in server.log_path.read_text(errors="replace")
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert token.encode() not in content, path
            assert api_token.encode() not in content, path


def test_an_uninvited_address_cannot_sign_up_under_the_invited_policy(
    server: ServerProcess, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    before = len(mailbox.messages)
    with httpx.Client(base_url=server.url) as web:
        form = web.get("/signup")
        assert form.status_code == 200
        assert "invitation only" in form.text
        refused = web.post("/signup", data={"email": OUTSIDER})
        assert refused.status_code == 403
        assert "invitation only" in refused.text
        # A made-up link, or one of the wrong shape, is not found (and never echoed).
        made_up = "A" * 43
        unknown = web.get(f"/signup/{made_up}")
        assert unknown.status_code == 404
        assert made_up not in unknown.text
        assert web.post(f"/signup/{made_up}").status_code == 404
        assert web.get("/signup/short").status_code == 404
    time.sleep(0.5)
    assert len(mailbox.messages) == before
    # And the API of course still refuses an account that does not exist.
    answer = httpx.get(f"{server.url}/v1/me", headers={"Authorization": "Bearer sr_" + "A" * 43})
    assert answer.status_code == 401


def test_the_inbox_lists_a_pending_request_for_the_owner_who_must_approve_it(
    server: ServerProcess,
) -> None:
    owner, insurer, analyst = "dora@bank.example", "erin@insurer.example", "finn@analytics.example"
    tokens = {address: server.add_user(address) for address in (owner, insurer, analyst)}
    clients = {address: _client(server, address, t) for address, t in tokens.items()}
    dcr = _publish(clients[owner], owner, [insurer, analyst], name="requests", interactive=True)
    request = (
        clients[analyst]
        .retrieve_analytics_dcr(dcr.id)
        .build_request()
        .add_computation(SqlComputeNodeDefinition("overlap", "SELECT COUNT(*) AS n FROM policies"))
        .add_participant(analyst, analyst_of=["overlap"])
        .with_note("count the policies")
        .submit()
    )

    def inbox(address: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{server.url}/v1/inbox", headers={"Authorization": f"Bearer {tokens[address]}"}
        )
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    # Only the owner of the data the request reads must approve it.
    [awaiting] = inbox(insurer)["approvals"]
    assert (awaiting["room_id"], awaiting["request_id"]) == (dcr.id, request.id)
    assert awaiting["nodes"] == ["policies"]
    assert awaiting["requester"] == analyst
    assert awaiting["note"] == "count the policies"
    assert inbox(owner)["approvals"] == []
    assert inbox(analyst)["approvals"] == []
    assert dcr.id in [r["room_id"] for r in inbox(analyst)["rooms"]]
    assert inbox(insurer)["rooms"][0]["invited_by"] == owner

    # The inbox page (logged in with e-mail and token) links to the room and its requests.
    with httpx.Client(base_url=server.url) as web:
        logged_in = web.post("/login", data={"email": insurer, "token": tokens[insurer]})
        assert logged_in.status_code == 303, logged_in.text
        page = web.get("/inbox")
        assert page.status_code == 200
        assert f'href="/rooms/{dcr.id}/requests"' in page.text
        assert f'href="/rooms/{dcr.id}"' in page.text
        assert "count the policies" in page.text
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/inbox").status_code == 303  # to the log in page

    # Approved: it leaves the approver's inbox.
    clients[insurer].retrieve_analytics_dcr(dcr.id).get_submitted_request(request.id).approve()
    assert inbox(insurer)["approvals"] == []


def test_the_signup_link_works_in_chromium(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    smtp: tuple[Mailbox, int],
    tmp_path: Path,
) -> None:
    mailbox, _ = smtp
    newcomer = "gina@analytics.example"
    owner = "hugo@bank.example"
    client = _client(server, owner, server.add_user(owner))
    dcr = _publish(client, owner, [newcomer], name="browser")
    link, _ = _signup_link(mailbox.wait_for(newcomer), server)
    page = chromium.new_page()
    try:
        page.goto(link)
        assert newcomer in page.content()
        assert serious_violations(page) == []
        page.get_by_role("button", name="Create account").click()
        page.wait_for_selector("#api-token")
        api_token = page.input_value("#api-token")
        page.screenshot(path=str(tmp_path / "signup-created.png"))
        assert "Keep it safe" in page.content()
        assert serious_violations(page) == []
        # Back and submit again: the link is spent.
        page.goto(link)
        assert "no longer valid" in page.content()

        # The new account logs in with the token it was shown; the inbox lists the room.
        page.get_by_role("link", name="Log in").click()
        page.get_by_label("Email").fill(newcomer)
        page.get_by_label("Token").fill(api_token)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.url}/inbox")
        assert page.get_by_role("link", name="browser").get_attribute("href") == (
            f"/rooms/{dcr.id}"
        )
        assert owner in page.content()
        assert serious_violations(page) == []
        page.screenshot(path=str(tmp_path / "inbox.png"))
    finally:
        page.close()
    assert _me(server, api_token) == newcomer


# -- the other policies, and servers without SMTP ---------------------------------------------


def test_domain_signup_emails_a_link_to_addresses_of_its_domains_only(
    tmp_path: Path, smtp: tuple[Mailbox, int], state_dir: Path
) -> None:
    mailbox, port = smtp
    env = _smtp_env(port, SEALROOM_SIGNUP="domains", SEALROOM_SIGNUP_DOMAINS="partner.example")
    server = start_server(tmp_path, env)
    try:
        newcomer = "ivan@partner.example"
        with httpx.Client(base_url=server.url) as web:
            form = web.get("/signup")
            assert 'name="email"' in form.text
            assert "partner.example" in form.text
            sent = web.post("/signup", data={"email": newcomer})
            assert sent.status_code == 200
            assert "Check your e-mail" in sent.text
            refused = web.post("/signup", data={"email": "jack@elsewhere.example"})
            assert refused.status_code == 403
            assert "partner.example" in refused.text
        link, _ = _signup_link(mailbox.wait_for(newcomer), server)
        assert _me(server, _create_account(link)) == newcomer
        # An address with an account gets the same answer, and no link.
        with httpx.Client(base_url=server.url) as web:
            assert web.post("/signup", data={"email": newcomer}).status_code == 200
        time.sleep(0.5)
        assert mailbox.to().count(newcomer) == 1
        assert "jack@elsewhere.example" not in mailbox.to()
    finally:
        stop_server(server)


def test_without_smtp_invitations_are_recorded_and_listed_by_the_operator(
    tmp_path: Path, state_dir: Path
) -> None:
    # Domain sign-up configured, but no SMTP: it cannot prove an address, so it refuses.
    env = {
        "SEALROOM_SIGNUP": "domains",
        "SEALROOM_SIGNUP_DOMAINS": "partner.example",
        "SEALROOM_SIGNUP_LINK_SECONDS": "3600",
    }
    server = start_server(tmp_path, env)
    try:
        owner, newcomer = "kim@bank.example", "lena@partner.example"
        client = _client(server, owner, server.add_user(owner))
        dcr = _publish(client, owner, [newcomer], name="x")
        with httpx.Client(base_url=server.url) as web:
            refused = web.post("/signup", data={"email": "max@partner.example"})
            assert refused.status_code == 403
            assert "cannot send e-mail" in refused.text

        data_dir = str(server.data_dir)
        listed = server.cli("user", "invitations", "--data-dir", data_dir).stdout
        assert newcomer in listed
        assert f"x ({dcr.id[:12]})" in listed
        assert "/signup/" not in listed  # a link is a credential: only on request
        as_json = server.cli("user", "invitations", "--data-dir", data_dir, "--json").stdout
        [pending] = json.loads(as_json)
        assert (pending["email"], pending["room_id"], pending["invited_by"]) == (
            newcomer,
            dcr.id,
            owner,
        )
        assert pending["mailed"] is False
        assert pending["has_account"] is False
        assert "signup_link" not in pending

        # The operator says where people reach the server (as SEALROOM_PUBLIC_URL does).
        public = ("--public-url", server.url)
        shown = server.cli(
            "user", "invitations", "--data-dir", data_dir, "--show-links", *public
        ).stdout
        found = re.search(r"http://127\.0\.0\.1:\d+/signup/[A-Za-z0-9_-]{43}", shown)
        assert found is not None, shown
        assert _me(server, _create_account(found.group(0))) == newcomer
        # Signed up: no longer pending.
        assert newcomer not in server.cli("user", "invitations", "--data-dir", data_dir).stdout

        # A link that expires in a second (the CLI issues links with its own settings).
        other = "nora@partner.example"
        _publish(client, owner, [other], name="y")
        short = server.env | {"SEALROOM_SIGNUP_LINK_SECONDS": "1"}
        shown = run_cli(
            "user", "invitations", "--data-dir", data_dir, "--show-links", *public, env=short
        )
        found = re.search(r"http://127\.0\.0\.1:\d+/signup/[A-Za-z0-9_-]{43}", shown.stdout)
        assert found is not None, shown.stdout
        time.sleep(1.5)
        expired = httpx.get(found.group(0))
        assert expired.status_code == 410
        assert "expired" in expired.text
        assert httpx.post(found.group(0)).status_code == 410
    finally:
        stop_server(server)


def test_an_smtp_server_that_is_down_never_fails_a_publication(
    tmp_path: Path, state_dir: Path
) -> None:
    down = free_port()  # nothing listens there
    env = _smtp_env(down, SEALROOM_SMTP_ATTEMPTS="2", SEALROOM_SIGNUP="closed")
    server = start_server(tmp_path, env)
    try:
        owner, newcomer = "olga@bank.example", "paul@analytics.example"
        client = _client(server, owner, server.add_user(owner))
        dcr = _publish(client, owner, [newcomer], name="down")
        assert client.retrieve_analytics_dcr(dcr.id).id == dcr.id
        data_dir = str(server.data_dir)
        listed = server.cli("user", "invitations", "--data-dir", data_dir).stdout
        assert newcomer in listed
        # Under the "closed" policy nobody signs up: no link is issued, not even on request.
        refused = server.cli(
            "user", "invitations", "--data-dir", data_dir, "--show-links", check=False
        )
        assert refused.returncode == 1
        assert "operator" in refused.stderr
        with httpx.Client(base_url=server.url) as web:
            assert "created by its operator" in web.get("/signup").text
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        while "given up after 2 attempts" not in server.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, server.log_path.read_text(errors="replace")
            time.sleep(0.2)
        assert "/signup/" not in server.log_path.read_text(errors="replace")
    finally:
        stop_server(server)
