"""``POST /v1/room-drafts``: the host makes a template into the definition the browser checks and
publishes (issue 19, "create a room: import a JSON template"). The browser believes the draft only
when its text hashes to its id and says what the template says; these tests pin what the host
returns, so that the browser's checks have the right thing to check."""

from __future__ import annotations

import hashlib
import json

import httpx

from sealroom.model.identities import PLATFORM_ROOT_NAME
from tests.integration.conftest import ANALYST, BANK, INSURER, InProcessPlatform

TEMPLATE = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Bank x insurer",
    "nodes": [
        {
            "kind": "table",
            "name": "bank_customers",
            "columns": [{"name": "email", "format_type": "EMAIL"}],
        },
        {
            "kind": "table",
            "name": "insurer_customers",
            "columns": [{"name": "email", "format_type": "EMAIL"}],
        },
        {
            "kind": "sql",
            "name": "overlap",
            "query": "SELECT COUNT(*) AS n FROM bank_customers b "
            "JOIN insurer_customers i ON b.email = i.email",
            "dependencies": ["bank_customers", "insurer_customers"],
            "minimum_rows_count": 10,
        },
    ],
    "participants": [
        {"email": BANK, "data_owner_of": ["bank_customers"]},
        {"email": INSURER, "data_owner_of": ["insurer_customers"]},
        {"email": ANALYST, "analyst_of": ["overlap"]},
    ],
}


def _client(app_platform: InProcessPlatform, email: str) -> httpx.Client:
    return httpx.Client(
        transport=app_platform.transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {app_platform.token(email)}"},
    )


def test_a_draft_is_the_canonical_definition_its_id_hashes(app_platform: InProcessPlatform) -> None:
    with _client(app_platform, BANK) as http:
        response = http.post("/v1/room-drafts", json={"template": json.dumps(TEMPLATE)})
    assert response.status_code == 200, response.text
    draft = response.json()
    assert hashlib.sha256(draft["definition"].encode()).hexdigest() == draft["room_id"]
    definition = json.loads(draft["definition"])
    assert definition["owner"] == BANK
    assert [node["name"] for node in definition["nodes"]] == [
        "bank_customers",
        "insurer_customers",
        "overlap",
    ]
    # Every participant is recognised through the platform PKI (the seed's default), and the
    # root is this server's CA.
    assert {identity["email"] for identity in definition["identities"]} == {BANK, INSURER, ANALYST}
    assert {identity["root"] for identity in definition["identities"]} == {PLATFORM_ROOT_NAME}
    root = app_platform.platform.pki.root_pem
    assert [r["certificate"] for r in definition["trust_roots"]] == [root]
    # A fresh salt each time: the same template is never the same room twice.
    with _client(app_platform, BANK) as http:
        again = http.post("/v1/room-drafts", json={"template": json.dumps(TEMPLATE)}).json()
    assert again["room_id"] != draft["room_id"]
    # The export is a template again (no salt), for "Export JSON" and "Duplicate".
    exported = json.loads(draft["template"])
    assert exported["format"] == "sealroom/room-definition"
    assert "salt" not in exported


def test_a_draft_of_someone_elses_room_is_refused_unless_the_caller_takes_it_over(
    app_platform: InProcessPlatform,
) -> None:
    template = json.dumps({**TEMPLATE, "owner": INSURER})
    with _client(app_platform, BANK) as http:
        refused = http.post("/v1/room-drafts", json={"template": template})
        taken = http.post("/v1/room-drafts", json={"template": template, "replace_owner": True})
    assert refused.status_code == 400
    assert "you can only publish rooms you own" in refused.json()["detail"]
    assert json.loads(taken.json()["definition"])["owner"] == BANK


def test_an_invalid_template_says_where(app_platform: InProcessPlatform) -> None:
    broken = {**TEMPLATE, "nodes": [{**TEMPLATE["nodes"][0], "colums": []}]}  # type: ignore[dict-item]
    with _client(app_platform, BANK) as http:
        response = http.post("/v1/room-drafts", json={"template": json.dumps(broken)})
    with httpx.Client(transport=app_platform.transport, base_url="http://testserver") as http:
        anonymous = http.post("/v1/room-drafts", json={"template": "{}"})
    assert response.status_code == 400
    assert "nodes[0].colums" in response.json()["detail"]
    assert anonymous.status_code == 401
