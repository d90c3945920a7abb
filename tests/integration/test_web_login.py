"""Logging in to the web app (issue 19, step 1), in Chromium and by attackers, on a real server.

The browser logs in with the fields and button the seed's guide names ("Email", "Token", "Log
in"), with the mouse and with the keyboard alone, and logs out; the session cookie's flags are
read from the browser. Attackers send the cookie without or with a wrong CSRF token, from another
origin, from another site's page, forge or replay it after log out or expiry, and try to use the
log in page as an open redirect. The data directory is searched for the session id: only its hash
is there. The same log in works over HTTPS (``serve --tls-cert/--tls-key``), with a Secure cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import ipaddress
import re
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, BrowserContext, Page

from sealroom.server.embedded import free_port
from sealroom.server.web.auth import LOGIN_FAILED_MESSAGE
from sealroom.server.web.security import CONTENT_SECURITY_POLICY
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    OUTSIDER,
    ServerProcess,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.integration]

COOKIE = "sealroom_session"
#: Records, in the page, every Content-Security-Policy violation (added before any page script).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("web-login"))
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    return {email: server.add_user(email) for email in (BANK, INSURER)}


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:  # noqa: F811 (the fixture)
    opened = chromium.new_context()
    opened.add_init_script(CSP_RECORDER)
    try:
        yield opened
    finally:
        opened.close()


def _log_in(page: Page, email: str, token: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()


def _session_cookie(context: BrowserContext) -> dict[str, object] | None:
    found = [c for c in context.cookies() if c["name"] == COOKIE]
    assert len(found) <= 1
    return dict(found[0]) if found else None


def _http_login(url: str, email: str, token: str, **form: str) -> httpx.Response:
    return httpx.post(
        f"{url}/login", data={"email": email, "token": token, **form}, follow_redirects=False
    )


def _cookie_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    value = response.cookies.get(COOKIE)
    assert value, response.headers
    return value


def _csrf_of(url: str, cookie: str) -> str:
    page = httpx.get(f"{url}/", cookies={COOKIE: cookie}, follow_redirects=False)
    assert page.status_code == 200, page.status_code
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)


# -- in the browser --------------------------------------------------------------------------


def test_the_browser_logs_in_sees_its_email_and_logs_out(
    server: ServerProcess, tokens: dict[str, str], context: BrowserContext, tmp_path: Path
) -> None:
    console: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{server.url}/")
    page.wait_for_url(f"{server.url}/login")  # no session: the log in page
    assert _session_cookie(context) is None
    _log_in(page, BANK, tokens[BANK])
    page.wait_for_url(f"{server.url}/")
    assert page.locator("header .email").inner_text() == BANK
    page.screenshot(path=str(tmp_path / "logged-in.png"))

    cookie = _session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    # Over http://127.0.0.1 the cookie is not Secure (other browsers would drop it there).
    assert cookie["secure"] is False
    assert page.evaluate("() => document.cookie") == ""  # HttpOnly: no script reads it
    # htmx and the bundle loaded under the strict CSP, and nothing was blocked.
    page.wait_for_function("() => typeof window.htmx === 'object'")
    assert page.evaluate("() => window.__cspViolations") == []
    assert not [m for m in console if "Content Security Policy" in m], console
    # htmx requests carry the CSRF header (hx-headers on <body>): an htmx POST to the API is
    # accepted with the cookie alone, no script of the page involved.
    page.evaluate(
        """() => {
            const button = document.createElement('button');
            button.id = 'htmx-probe';
            button.setAttribute('hx-post', '/v1/uploads');
            button.setAttribute('hx-swap', 'none');
            document.querySelector('main').append(button);
            window.htmx.process(button);
        }"""
    )
    with page.expect_response(f"{server.url}/v1/uploads") as answered:
        page.click("#htmx-probe")
    assert answered.value.status == 201, answered.value.text()
    assert answered.value.request.headers["x-csrf-token"] == page.get_attribute(
        'meta[name="csrf-token"]', "content"
    )
    assert page.evaluate("() => window.__cspViolations") == []

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server.url}/login")
    assert _session_cookie(context) is None
    page.goto(f"{server.url}/")
    page.wait_for_url(f"{server.url}/login")
    # The session is gone on the server: the old cookie, replayed, opens nothing.
    replayed = httpx.get(f"{server.url}/v1/me", cookies={COOKIE: str(cookie["value"])})
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "unauthenticated"


def test_a_wrong_token_or_another_persons_token_shows_the_error(
    server: ServerProcess, tokens: dict[str, str], context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/login")
    for email, token in (
        (BANK, "sr_" + "A" * 43),  # a wrong token
        (BANK, tokens[INSURER]),  # someone else's token
        (OUTSIDER, tokens[INSURER]),  # an e-mail without an account: the same answer
    ):
        with page.expect_response(f"{server.url}/login") as answered:
            _log_in(page, email, token)
        assert answered.value.status == 401
        assert page.get_by_role("alert").inner_text() == LOGIN_FAILED_MESSAGE
        assert page.get_by_label("Email").input_value() == email  # kept, the token is not
        assert page.get_by_label("Token").input_value() == ""
        assert _session_cookie(context) is None
    assert page.evaluate("() => window.__cspViolations") == []


def test_the_keyboard_alone_logs_in(
    server: ServerProcess, tokens: dict[str, str], context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/login")
    assert page.evaluate("() => document.activeElement.id") == "login-email"  # autofocus
    page.keyboard.type(INSURER)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "login-token"
    page.keyboard.type(tokens[INSURER])
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Log in"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    assert page.locator("header .email").inner_text() == INSURER


def test_a_page_asked_for_before_log_in_is_shown_after_it(
    server: ServerProcess, tokens: dict[str, str], context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/datasets")
    page.wait_for_url(f"{server.url}/login?next=/datasets")
    _log_in(page, BANK, tokens[BANK])
    page.wait_for_url(f"{server.url}/datasets")


def test_another_sites_form_cannot_use_the_session(
    server: ServerProcess, tokens: dict[str, str], context: BrowserContext
) -> None:
    """A logged-in person visits an attacker's page (another site: ``localhost`` is not
    ``127.0.0.1``) that posts a form to the API and to log out: the browser does not send the
    SameSite=Strict cookie, and the session is untouched."""
    page = context.new_page()
    page.goto(f"{server.url}/login")
    _log_in(page, BANK, tokens[BANK])
    page.wait_for_url(f"{server.url}/")
    attacker = _AttackerSite(server.url)
    try:
        for target in ("/v1/uploads", "/logout"):
            with page.expect_response(f"{server.url}{target}") as answered:
                page.goto(f"{attacker.url}/?target={target}")
            expected = 401 if target == "/v1/uploads" else 303  # log out: to the log in page
            assert answered.value.status == expected
    finally:
        attacker.close()
    page.goto(f"{server.url}/")
    assert page.locator("header .email").inner_text() == BANK  # still logged in


class _AttackerSite:
    """A page on another site that auto-submits a form to the Sealroom server."""

    def __init__(self, victim: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target = self.path.split("target=", 1)[-1]
                body = (
                    f'<form id="f" method="post" action="{victim}{target}">'
                    '<input name="csrf_token" value="guess"></form>'
                    '<script>document.getElementById("f").submit()</script>'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- attackers with httpx --------------------------------------------------------------------


def test_an_unsafe_api_call_by_cookie_needs_the_csrf_token_and_this_origin(
    server: ServerProcess, tokens: dict[str, str]
) -> None:
    cookie = _cookie_of(_http_login(server.url, BANK, tokens[BANK]))
    csrf = _csrf_of(server.url, cookie)
    with httpx.Client(base_url=server.url, cookies={COOKIE: cookie}) as api:
        assert api.get("/v1/me").json()["email"] == BANK  # a safe method needs no token
        refusals = {
            "csrf_token_missing": {},
            "csrf_token_invalid": {"X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")},
            "cross_origin_refused": {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
        }
        for code, headers in refusals.items():
            refused = api.post("/v1/uploads", json={}, headers=headers)
            assert refused.status_code == 403, (code, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == code
        cross_site = api.post(
            "/v1/uploads", json={}, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
        )
        assert cross_site.json()["code"] == "cross_origin_refused"
        # The page's own call: the header, and its own origin.
        accepted = api.post(
            "/v1/uploads", json={}, headers={"X-CSRF-Token": csrf, "Origin": server.url}
        )
        assert accepted.status_code == 201, accepted.text
        # A bearer token wins over the cookie: INSURER's token, BANK's cookie, INSURER acts.
        both = api.get("/v1/me", headers={"Authorization": f"Bearer {tokens[INSURER]}"})
        assert both.json()["email"] == INSURER
        # A form post to log out without the token is refused; the session stays.
        assert api.post("/logout", data={"csrf_token": "nope"}).status_code == 403
        assert api.get("/v1/me").status_code == 200


def test_forged_expired_and_revoked_sessions_open_nothing(server: ServerProcess) -> None:
    token = server.add_user(ANALYST)
    forged = "A" * 43
    for cookie in (forged, "", "x" * 5000):
        assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 401
    page = httpx.get(f"{server.url}/rooms/new", cookies={COOKIE: forged})
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/rooms/new"
    htmx = httpx.get(
        f"{server.url}/datasets", cookies={COOKIE: forged}, headers={"HX-Request": "true"}
    )
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (401, "/login?next=/datasets")

    database = server.data_dir / "metadata.sqlite3"
    for column, hours in (("last_seen_at_ms", 2.1), ("created_at_ms", 12.1)):
        cookie = _cookie_of(_http_login(server.url, ANALYST, token))
        assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 200
        # The session as it would be after more than the idle time / the lifetime (12 h).
        _age_session(database, cookie, column, hours)
        assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 401
        assert _session_rows(database, cookie) == 0  # deleted when found expired

    cookie = _cookie_of(_http_login(server.url, ANALYST, token))
    assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 200
    server.cli("user", "revoke-token", ANALYST, "--data-dir", str(server.data_dir))
    assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 401
    assert httpx.get(f"{server.url}/", cookies={COOKIE: cookie}).status_code == 303


def _age_session(database: Path, cookie: str, column: str, hours: float) -> None:
    with sqlite3.connect(database) as db:
        changed = db.execute(
            f"UPDATE web_sessions SET {column} = {column} - ? WHERE id_sha256 = ?",
            (int(hours * 3600_000), hashlib.sha256(cookie.encode()).hexdigest()),
        ).rowcount
    assert changed == 1


def _session_rows(database: Path, cookie: str) -> int:
    with sqlite3.connect(database) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM web_sessions WHERE id_sha256 = ?",
            (hashlib.sha256(cookie.encode()).hexdigest(),),
        ).fetchone()
    return int(count)


def test_the_data_directory_holds_the_session_ids_hash_never_the_id(
    server: ServerProcess, tokens: dict[str, str]
) -> None:
    cookie = _cookie_of(_http_login(server.url, INSURER, tokens[INSURER]))
    assert httpx.get(f"{server.url}/v1/me", cookies={COOKIE: cookie}).status_code == 200
    stored = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())
    assert hashlib.sha256(cookie.encode()).hexdigest().encode() in stored  # the right place
    assert cookie.encode() not in stored


def test_log_in_redirects_only_to_this_servers_paths(
    server: ServerProcess, tokens: dict[str, str]
) -> None:
    for target, landing in (
        ("//evil.example", "/"),
        ("//evil.example/login", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/rooms/new", "/rooms/new"),
    ):
        answer = _http_login(server.url, BANK, tokens[BANK], next=target)
        assert answer.headers["location"] == landing, target
        form = httpx.get(f"{server.url}/login", params={"next": target})
        assert f'name="next" value="{landing}"' in form.text, target


def test_log_in_from_another_origin_is_refused(
    server: ServerProcess, tokens: dict[str, str]
) -> None:
    """Login CSRF: another site's form must not log the victim in as the attacker."""
    answer = httpx.post(
        f"{server.url}/login",
        data={"email": BANK, "token": tokens[BANK]},
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403
    assert COOKIE not in answer.cookies


def test_every_response_carries_the_security_headers(server: ServerProcess) -> None:
    for path, cache in (
        ("/login", "no-store"),
        ("/v1/me", "no-store"),  # 401
        ("/health", "no-store"),
        ("/no-such-page", "no-store"),  # 404
        ("/static/js/sealroom.js", "no-cache"),
        ("/static/css/sealroom.css", "no-cache"),
    ):
        headers = httpx.get(f"{server.url}{path}").headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["cross-origin-opener-policy"] == "same-origin", path
        assert headers["cache-control"] == cache, path
        assert "strict-transport-security" not in headers, path  # plain HTTP
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


# -- over HTTPS ------------------------------------------------------------------------------


_CLI = (sys.executable, "-m", "sealroom.cli")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_over_https_the_log_in_works_and_the_cookie_is_secure(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tmp_path: Path,
) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    data_dir = tmp_path / "data"
    env = {**server.env, "SEALROOM_DATA_DIR": str(data_dir)}
    env["SEALROOM_SEALING_KEY_FILE"] = str(tmp_path / "sealing.key")
    url = f"https://127.0.0.1:{port}"
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [*_CLI, "serve", "--data-dir", str(data_dir), "--port", str(port), *tls],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_https(url, cert, process, tmp_path / "server.log")
            result = subprocess.run(
                [*_CLI, "user", "add", BANK, "--data-dir", str(data_dir)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            token = result.stdout.strip().splitlines()[-1]
            health = httpx.get(f"{url}/health", verify=ssl.create_default_context(cafile=cert))
            assert health.headers["strict-transport-security"] == "max-age=31536000"

            context = chromium.new_context(ignore_https_errors=True)
            try:
                page = context.new_page()
                page.goto(f"{url}/login")
                _log_in(page, BANK, token)
                page.wait_for_url(f"{url}/")
                assert page.locator("header .email").inner_text() == BANK
                cookie = _session_cookie(context)
                assert cookie is not None
                assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (
                    True,
                    True,
                    "Strict",
                )
            finally:
                context.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for_https(url: str, cert: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the HTTPS server exited:\n{log.read_text()}")
        try:
            if (
                httpx.get(
                    f"{url}/health", verify=ssl.create_default_context(cafile=cert), timeout=1
                ).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the HTTPS server did not answer:\n{log.read_text()}")


def test_serve_refuses_a_certificate_without_its_key(server: ServerProcess, tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path)
    result = server.cli(
        "serve", "--data-dir", str(tmp_path / "d"), "--tls-cert", str(cert), check=False
    )
    assert result.returncode == 1
    assert "--tls-cert and --tls-key go together" in result.stderr
