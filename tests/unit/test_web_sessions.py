"""The web app's redirect target and CSRF/origin checks, on real Starlette requests."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from sealroom.errors import PermissionDeniedError
from sealroom.server.sessions import Session, check_same_origin, check_unsafe_request
from sealroom.server.web.auth import safe_next

SESSION = Session(id_sha256="0" * 64, email="alice@bank.example", csrf_token="t0ken-of-the-session")


def _request(headers: dict[str, str], scheme: str = "http") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "server": ("127.0.0.1", 8765),
            "path": "/v1/uploads",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8765"),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
        }
    )


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("/rooms/new", "/rooms/new"),
        ("/rooms/abc/overview?tab=1", "/rooms/abc/overview?tab=1"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/\nLocation: x", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_next_keeps_only_paths_of_this_server(target: str | None, landing: str) -> None:
    assert safe_next(target) == landing


def test_the_csrf_token_and_the_origin_are_both_needed() -> None:
    token = SESSION.csrf_token
    check_unsafe_request(_request({"Origin": "http://127.0.0.1:8765"}), SESSION, token)
    check_unsafe_request(_request({}), SESSION, token)  # no Origin: not a browser
    check_unsafe_request(_request({"Sec-Fetch-Site": "same-origin"}), SESSION, token)
    refused = {
        "csrf_token_missing": (_request({}), None),
        "csrf_token_invalid": (_request({}), token + "x"),
        "cross_origin_refused": (_request({"Origin": "http://evil.example"}), token),
    }
    refused["null origin"] = (_request({"Origin": "null"}), token)
    refused["other port"] = (_request({"Origin": "http://127.0.0.1:9999"}), token)
    refused["other scheme"] = (_request({"Origin": "https://127.0.0.1:8765"}), token)
    refused["same-site"] = (_request({"Sec-Fetch-Site": "same-site"}), token)
    for what, (request, sent) in refused.items():
        with pytest.raises(PermissionDeniedError) as caught:
            check_unsafe_request(request, SESSION, sent)
        assert caught.value.status == 403, what
        if what.startswith(("csrf", "cross")):
            assert caught.value.code == what


def test_over_https_the_origin_is_the_https_one() -> None:
    check_same_origin(_request({"Origin": "https://127.0.0.1:8765"}, scheme="https"))
    with pytest.raises(PermissionDeniedError):
        check_same_origin(_request({"Origin": "http://127.0.0.1:8765"}, scheme="https"))
