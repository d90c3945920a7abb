"""DataLabs and media clean rooms in the web app, in Chromium against a real ``sealroom serve``.

The DataLab and the media room are set up with the SDK (as tests/integration/test_media.py does,
on media_data's generated audiences); then people who do not write Python use them in the
browser. Every figure the browser shows is compared with what the SDK gets from the same room:
the overlap, insights, an audience created in the browser (which the SDK then reads), its size
and its user list (the downloaded CSV), a lookalike's size and model quality, the DataLab's
validation and statistics. The agency's page offers no control its group may not use. Each page
is checked with axe, for console errors and for sideways scrolling; screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import sealroom as sr
from sealroom.data_lab import DataLab, IdType
from sealroom.data_lab.layout import MARKER as DATA_LAB_MARKER
from sealroom.media import (
    CollaborationType,
    MediaDcr,
    Participant,
    Permission,
)
from sealroom.media.config import MARKER as MEDIA_MARKER
from sealroom.server.web.pages import KIND_TABS
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import ServerProcess, start_server, stop_server
from tests.integration.media_data import MediaData, data_lab, generate
from tests.integration.web_session import LAPTOP, Person, artifacts_for, person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
K = 10
#: Engine runs (sandboxed Python, XGBoost for lookalikes) and their results.
ENGINE_TIMEOUT_MS = 240_000

P = Permission
GROUPS = [
    Participant(
        [PUBLISHER], [P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP, P.VIEW_INSIGHTS], "Publisher"
    ),
    Participant(
        [ADVERTISER],
        [
            P.PROVIDE_SEED_AUDIENCE,
            P.VIEW_OVERLAP,
            P.VIEW_INSIGHTS,
            P.CREATE_CUSTOM_AUDIENCE,
            P.EXPORT_AUDIENCE,
            P.MODEL_QUALITY,
        ],
        "Advertiser",
    ),
    Participant([AGENCY], [P.VIEW_OVERLAP], "Agency"),
]
TYPES = [
    CollaborationType.INSIGHTS,
    CollaborationType.REMARKETING,
    CollaborationType.EXCLUSION_TARGETING,
    CollaborationType.LOOKALIKE,
]


@dataclass
class MediaSetup:
    server: ServerProcess
    tokens: dict[str, str]
    clients: dict[str, sr.Client]
    data: MediaData
    files: Path
    lab: DataLab
    room: MediaDcr


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaSetup]:
    """A publisher's validated DataLab (segments, demographics), a media room on it with the
    base audience provisioned and the advertiser's seed audiences uploaded, all with the SDK."""
    root = tmp_path_factory.mktemp("web-media")
    server = start_server(root)
    try:
        tokens = {e: server.add_user(e) for e in (PUBLISHER, ADVERTISER, AGENCY)}
        clients = {
            e: sr.create_client(e, tokens[e], api_url=server.url, state_dir=root / e.split("@")[0])
            for e in tokens
        }
        files = root / "files"
        files.mkdir()
        data = generate(files)
        key = sr.Key()
        lab = data_lab(
            clients[PUBLISHER], files, key, minimum_group_size=K, collaboration_types=TYPES
        )
        room = MediaDcr(
            clients[PUBLISHER],
            name="news x shop",
            participants=GROUPS,
            collaboration_types=TYPES,
            matching_ids=[IdType.EMAIL],
            show_match_rate=True,
            base_audience=lab,
            minimum_group_size=K,
        )
        room.provision_base_audience(lab.id, key)
        MediaDcr.from_existing(room.id, clients[ADVERTISER]).upload_seed_audiences(
            files / "seed.csv", sr.Key()
        )
        yield MediaSetup(server, tokens, clients, data, files, lab, room)
    finally:
        stop_server(server)


def as_number(text: str) -> int | None:
    """A count as the page shows it ("1,200"; "too small" is None)."""
    return None if text.strip() == "too small" else int(text.replace(",", ""))


def table_rows(table: Locator, key: str) -> dict[str, dict[str, str]]:
    """``{row's data-KEY: {data-field: text}}`` of a result table."""
    out: dict[str, dict[str, str]] = {}
    rows = table.locator(f"tbody tr[data-{key}]")
    for i in range(rows.count()):
        row = rows.nth(i)
        fields = row.locator("[data-field]")
        out[row.get_attribute(f"data-{key}") or ""] = {
            fields.nth(j).get_attribute("data-field") or "": fields.nth(j).inner_text()
            for j in range(fields.count())
        }
    return out


def checked(someone: Person, where: str) -> None:
    someone.shot(where)
    someone.check_accessibility(where)
    someone.assert_fits_the_screen()
    assert someone.console_errors == [], someone.console_errors


def test_the_kind_markers_are_the_sdks() -> None:
    """The server picks a room's own tab by the SDKs' description markers (without importing
    the SDK): they must be the same strings."""
    assert dict(KIND_TABS) == {
        MEDIA_MARKER: ("media", "Media"),
        DATA_LAB_MARKER: ("data-lab", "DataLab"),
    }


def test_the_advertiser_uses_the_media_room_in_the_browser(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: MediaSetup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    url, room_id = setup.server.url, setup.room.id
    shop = MediaDcr.from_existing(room_id, setup.clients[ADVERTISER])
    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page: Page = adam.page
        # The room opens on its Media tab; the configuration in words, the group marked.
        page.goto(f"{url}/rooms/{room_id}")
        page.wait_for_url(f"**/rooms/{room_id}/media")
        expect(page.locator("[data-verified='media']")).to_be_visible(timeout=60_000)
        expect(page.locator("[data-attestation='simulated']")).to_be_visible()
        expect(page.locator("tr[data-group='Advertiser']")).to_contain_text("your group")
        expect(page.locator("tr[data-group='Agency']")).to_contain_text("see the overlap")
        expect(page.locator("[data-minimum-audience-size='100']")).to_be_visible()
        expect(page.locator("tr[data-table='matching']")).to_have_attribute("data-published", "yes")
        checked(adam, "media-tab")

        # The seed audiences again, through the provisioning wizard on this page: encrypted
        # here, validated by the core (the matching ids are e-mail addresses).
        seed = page.locator("[data-seed-upload]")
        seed.get_by_role("button", name="Provision again").click()
        seed.get_by_label("1. Choose a CSV file").set_input_files(str(setup.files / "seed.csv"))
        expect(seed.locator("[data-mapping]")).to_be_visible()
        seed.get_by_role("button", name="Encrypt, upload and publish").click()
        expect(seed.locator("[data-report='PASSED']")).to_be_visible(timeout=60_000)
        checked(adam, "seed-audiences")
        # What reached the server is ciphertext: no seed e-mail is in its data directory.
        for path in setup.server.data_dir.rglob("*"):
            if path.is_file():
                assert b"outsider7@mail.example" not in path.read_bytes(), path

        # Overlap: what the SDK gets from the same room.
        overlap = shop.get_overlap_statistics().wait_for_completion(timeout=120).result()
        page.get_by_role("button", name="Show overlap").click()
        expect(page.locator("[data-overlap]")).to_be_visible(timeout=120_000)
        shown = table_rows(page.locator("[data-overlap]"), "audience-type")
        assert set(shown) == {o["audience_type"] for o in overlap["overlap_statistics"]}
        for entry in overlap["overlap_statistics"]:
            row = shown[entry["audience_type"]]
            assert as_number(row["advertiser_size"]) == entry["advertiser_size"]
            assert as_number(row["overlap_size"]) == entry["overlap_size"]
        rate = page.locator("tr[data-audience-type='buyers'] [data-field='match_rate']")
        assert (
            float(rate.get_attribute("data-value") or "nan")
            == (
                next(o for o in overlap["overlap_statistics"] if o["audience_type"] == "buyers")[
                    "match_rate"
                ]
            )
        )
        assert shown["buyers"]["overlap_size"] == "500"
        assert shown["tiny"]["overlap_size"] == "too small"

        # Insights: every audience type, aggregation and key, sizes and affinity.
        insights = shop.get_insights().wait_for_completion(timeout=120).result()
        page.get_by_role("button", name="Show insights").click()
        choice = page.get_by_label("Audience type")
        expect(choice).to_be_visible(timeout=120_000)
        for audience in insights["audiences"]:
            choice.select_option(audience["audience_type"])
            for aggregation in audience["aggregations"]:
                column = aggregation["aggregation"][0]["column"]
                table = page.locator(
                    f"table[data-insights='{column}'][data-audience-type='{audience['audience_type']}']"
                )
                expect(table).to_be_visible()
                rows = table_rows(table, "key")
                assert set(rows) == {r[0] for r in aggregation["rows"]}
                for key, overlap_size, base_size, *_, affinity in aggregation["rows"]:
                    assert as_number(rows[key]["overlap_size"]) == overlap_size
                    assert as_number(rows[key]["base_size"]) == base_size
                    cell = table.locator(f"tr[data-key='{key}'] [data-field='affinity']")
                    assert float(cell.get_attribute("data-value") or "nan") == affinity
        choice.select_option("buyers")
        sports = page.locator("table[data-insights='segment'] tr[data-key='sports']")
        expect(sports.locator("[data-field='affinity']")).to_have_text("2.00")
        checked(adam, "overlap-and-insights")

        # Audiences: the seed types, then a remarketing audience made here.
        page.get_by_role("button", name="Show audiences").click()
        audiences = page.locator("[data-audience-table]")
        expect(audiences).to_be_visible(timeout=120_000)
        expect(audiences.locator("tr[data-audience='buyers']")).to_contain_text("provided 600 ids")
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("REMARKETING")
        form.get_by_label("Audience name").fill("buyers again")
        form.get_by_label("Seed audience").select_option("buyers")
        form.get_by_role("button", name="Create audience").click()
        created = page.locator("tr[data-audience='buyers again']")
        expect(created).to_be_visible(timeout=180_000)
        expect(created).to_contain_text("Remarketing: the base users in seed audience “buyers”")
        checked(adam, "audience-created")
        # The SDK reads the audience the browser wrote, as if it had made it itself.
        custom = shop.get_audiences().get_custom_audience("buyers again")
        assert custom.definition == {
            "kind": "REMARKETING",
            "seedAudienceRef": {"audienceType": "buyers"},
        }
        assert custom.created_by == ADVERTISER
        assert custom.created_by_group == GROUPS[1].id

        # Its size, as the SDK's.
        sdk_size = shop.get_audience_size(custom).wait_for_completion(timeout=300).result()["size"]
        created.get_by_role("button", name="Size of buyers again").click()
        size = created.locator("[data-field='size']")
        expect(size).to_have_attribute("data-value", str(sdk_size), timeout=ENGINE_TIMEOUT_MS)
        assert sdk_size == 500

        # Its user list, downloaded: the SDK's list, which is the overlap's users.
        sdk_users = shop.get_audience_user_list(custom).wait_for_completion(timeout=300).result()
        with page.expect_download(timeout=ENGINE_TIMEOUT_MS) as exported:
            created.get_by_role("button", name="Export user list of buyers again").click()
        assert exported.value.suggested_filename == "buyers_again-users.csv"
        lines = [
            r[0] for r in csv.reader(io.StringIO(Path(exported.value.path()).read_text())) if r
        ]
        assert sorted(lines) == sorted(sdk_users)
        assert set(lines) == setup.data.overlap("buyers")

        # A seed audience below the minimum size: its size is not released, its export refused
        # with the engine's reason, in words.
        tiny = audiences.locator("tr[data-audience='tiny']")
        tiny.get_by_role("button", name="Size of tiny").click()
        expect(tiny.locator("[data-field='size']")).to_have_text(
            "too small", timeout=ENGINE_TIMEOUT_MS
        )
        tiny.get_by_role("button", name="Export user list of tiny").click()
        status = page.locator("[data-section='audiences'] > p[aria-live]")
        expect(status).to_contain_text("the audience engine refused", timeout=ENGINE_TIMEOUT_MS)
        expect(status).to_contain_text("minimum")
        checked(adam, "sizes-and-refusal")

        # A lookalike of the new audience, without it: size and model quality as the SDK's.
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("LOOKALIKE")
        form.get_by_label("Audience name").fill("like buyers")
        form.get_by_label("Source audience", exact=True).select_option(label="buyers again")
        form.get_by_label("Reach (percent of the base audience, 1 to 30)").fill("10")
        expect(form.get_by_label("Leave out the source audience's own users")).to_be_checked()
        form.get_by_role("button", name="Create audience").click()
        lookalike = page.locator("tr[data-audience='like buyers']")
        expect(lookalike).to_be_visible(timeout=180_000)
        # The list was drawn again with the new audience; the sizes already released stay.
        expect(created.locator("[data-field='size']")).to_have_attribute("data-value", "500")
        like = shop.get_audiences().get_custom_audience("like buyers")
        assert like.definition == {
            "kind": "LOOKALIKE",
            "sourceRef": {"kind": "CUSTOM", "id": custom.id},
            "reach": 10,
            "excludeSeedAudience": True,
        }
        sdk_like = shop.get_audience_size(like).wait_for_completion(timeout=600).result()["size"]
        lookalike.get_by_role("button", name="Size of like buyers").click()
        expect(lookalike.locator("[data-field='size']")).to_have_attribute(
            "data-value", str(sdk_like), timeout=ENGINE_TIMEOUT_MS
        )
        quality = shop.get_lookalike_audience_statistics(like).wait_for_completion(600).result()
        lookalike.get_by_role("button", name="Model quality of like buyers").click()
        auc = page.locator("[data-lookalike-quality='like buyers'] [data-auc]")
        expect(auc).to_be_visible(timeout=ENGINE_TIMEOUT_MS)
        assert (
            float(auc.get_attribute("data-auc") or "nan") == quality["quality"]["roc_curve"]["auc"]
        )
        checked(adam, "lookalike")

        # Keyboard only: Tab reaches the form's name field and Enter creates the audience.
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("EXCLUSION_TARGETING")
        form.get_by_label("Seed audience").select_option("buyers")
        name = form.get_by_label("Audience name")
        name.focus()
        page.keyboard.type("not buyers")
        page.keyboard.press("Enter")
        expect(page.locator("tr[data-audience='not buyers']")).to_be_visible(timeout=180_000)
        assert page.url.endswith(f"/rooms/{room_id}/media")
        names = {a.name for a in shop.get_audiences().custom}
        assert names == {"buyers again", "like buyers", "not buyers"}
        checked(adam, "keyboard")


def test_the_agency_sees_the_overlap_and_no_other_control(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: MediaSetup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    url, room_id = setup.server.url, setup.room.id
    agency = MediaDcr.from_existing(room_id, setup.clients[AGENCY])
    overlap = agency.get_overlap_statistics().wait_for_completion(timeout=120).result()
    with person(chromium, url, AGENCY, setup.tokens[AGENCY], shots, viewport=LAPTOP) as ada:
        page = ada.page
        page.goto(f"{url}/rooms/{room_id}/media")
        expect(page.locator("[data-verified='media']")).to_be_visible(timeout=60_000)
        expect(page.locator("[data-your-group='Agency']")).to_contain_text("see the overlap")
        # No insights, no seed upload, no audience controls.
        expect(page.locator("[data-section='insights']")).to_have_count(0)
        expect(page.get_by_role("button", name="Show insights")).to_have_count(0)
        expect(page.locator("[data-seed-upload]")).to_have_count(0)
        page.get_by_role("button", name="Show overlap").click()
        expect(page.locator("[data-overlap]")).to_be_visible(timeout=120_000)
        shown = table_rows(page.locator("[data-overlap]"), "audience-type")
        for entry in overlap["overlap_statistics"]:
            assert as_number(shown[entry["audience_type"]]["overlap_size"]) == entry["overlap_size"]
        page.get_by_role("button", name="Show audiences").click()
        expect(page.locator("[data-audience-table]")).to_be_visible(timeout=120_000)
        expect(page.locator("tr[data-audience='buyers']")).to_be_visible()
        for label in ("Size", "Export user list", "Model quality", "Create audience"):
            expect(page.get_by_role("button", name=label)).to_have_count(0)
        expect(page.locator("[data-create-audience]")).to_have_count(0)
        checked(ada, "agency-media-tab")


def test_the_publisher_reads_the_data_lab_in_the_browser(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: MediaSetup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    url, lab = setup.server.url, setup.lab
    status = lab.get_validation_status(timeout=120)
    stats: dict[str, Any] = lab.get_statistics_report(timeout=120)
    with person(chromium, url, PUBLISHER, setup.tokens[PUBLISHER], shots) as pia:
        page = pia.page
        page.goto(f"{url}/")
        page.get_by_role("link", name="news audience").click()
        page.wait_for_url(f"**/rooms/{lab.id}/data-lab")
        expect(page.locator("[data-verified='data-lab']")).to_be_visible(timeout=60_000)
        identifiers = page.locator("[data-identifiers]")
        expect(identifiers).to_contain_text("userId")
        expect(identifiers).to_contain_text("matched in media rooms")
        expect(page.locator("[data-dataset-node='segments']")).to_contain_text("Provisioned")
        checked(pia, "data-lab")

        page.get_by_role("button", name="Check validation").click()
        verdict = page.locator(f"[data-validation-status='{status['status']}']")
        expect(verdict).to_be_visible(timeout=120_000)
        assert status["status"] == "SUCCESS"
        for node, entry in status["datasets"].items():
            expect(verdict.locator(f"tr[data-dataset='{node}']")).to_contain_text(
                f"{entry['validation']}"
            )

        page.get_by_role("button", name="Compute statistics").click()
        result = page.locator("[data-result='statistics']")
        expect(result.locator("[data-distinct-users]")).to_be_visible(timeout=120_000)
        basic = stats["basic_statistics"]
        users = basic["identifiers"]["distinct_user_ids"]
        assert result.locator("[data-distinct-users]").get_attribute("data-distinct-users") == str(
            users
        )
        totals = table_rows(result.locator("[data-totals]"), "dataset")
        for node, name in (
            ("matching", "identifiers"),
            ("segments", "segments"),
            ("demographics", "demographics"),
        ):
            assert as_number(totals[node]["total_rows"]) == basic[name]["total_rows"]
            assert as_number(totals[node]["valid_rows"]) == basic[name]["valid_rows"]
        segments = table_rows(result.locator("[data-segment-statistics]"), "segment")
        expected = stats["segment_statistics"]["segment_user_counts"]["email"]
        assert {s: as_number(r["users"]) for s, r in segments.items()} == {
            s: v["all_users"]["absolute"] for s, v in expected.items()
        }
        assert "rare" not in segments  # 5 users: under the minimum group size
        demographics = table_rows(result.locator("[data-demographic-statistics]"), "demographic")
        assert {k.replace("|", "||"): as_number(r["users"]) for k, r in demographics.items()} == {
            k: v["absolute"] for k, v in stats["demographic_statistics"]["all_users"].items()
        }
        checked(pia, "data-lab-statistics")

        # The publisher's media tab: the base audience provisioned, no audience controls.
        page.goto(f"{url}/rooms/{setup.room.id}/media")
        expect(page.locator("[data-verified='media']")).to_be_visible(timeout=60_000)
        expect(page.locator("tr[data-group='Publisher']")).to_contain_text("your group")
        expect(page.locator("[data-seed-upload]")).to_have_count(0)
        expect(page.get_by_role("button", name="Show insights")).to_be_visible()
        checked(pia, "publisher-media-tab")
