"""The web app's Media tab does what the SDK does: rule-based audiences, sharing and deleting
audiences, the privacy budget, and people joining and leaving groups (MANAGE_USERS) — in
Chromium against a real ``sealroom serve``.

Each action is made in the browser and its effect read through the SDK: a rule-based audience
made in the browser is, to the SDK, the definition its RuleBasedAudienceBuilder makes of the same
choices, sized alike (and as plain Python counts it); an audience shared in the browser is in
the other group's list; a deletion follows the SDK's rules (dependents only when asked for,
never another group's audience). In differential-privacy mode the budget the page shows — summed
in the browser from the room's verified audit log — equals the SDK's retrieve_privacy_budget
after every charge, and a host that alters a charge in the log is caught. A membership request
asked in the browser is sound in the SDK's eyes; approved and integrated in the browser, the
SDK's get_participants shows the person, who may then run what their permissions allow; one
the SDK's rules call unsound is marked so and offered no approval; a host that drafts more than
was asked is refused before anything is signed. Each page is checked
with axe, for console errors and for sideways scrolling; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

import sealroom as sr
from sealroom.data_lab import DataLab, IdType
from sealroom.media import (
    AudienceCombinator,
    AudienceFilters,
    AudienceReference,
    CollaborationType,
    CombineOperator,
    CustomAudience,
    Filter,
    FilterOperator,
    MatchOperator,
    MediaDcr,
    MediaPrivacy,
    Participant,
    Permission,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
)
from sealroom.media.members import MembershipChange
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import ServerProcess, start_server, stop_server
from tests.integration.media_data import MediaData, data_lab, generate, released
from tests.integration.web_session import Person, artifacts_for, person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
NEWCOMER = "cole@shop.example"
K = 10
ENGINE_TIMEOUT_MS = 240_000

P = Permission
#: The publisher may create audiences too: so another group's audience can depend on the
#: advertiser's, which the advertiser may then not delete.
GROUPS = [
    Participant(
        [PUBLISHER],
        [P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP, P.CREATE_CUSTOM_AUDIENCE],
        "Publisher",
        id="g-publisher",
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
        id="g-advertiser",
    ),
    Participant([AGENCY], [P.VIEW_OVERLAP], "Agency", id="g-agency"),
]
TYPES = [
    CollaborationType.INSIGHTS,
    CollaborationType.REMARKETING,
    CollaborationType.EXCLUSION_TARGETING,
    CollaborationType.RULE_BASED,
    CollaborationType.LOOKALIKE,
]


@dataclass
class Setup:
    server: ServerProcess
    tokens: dict[str, str]
    clients: dict[str, sr.Client]
    data: MediaData
    files: Path
    key: sr.Key
    lab: DataLab

    def room(
        self,
        name: str,
        privacy: MediaPrivacy | None = None,
        participants: list[Participant] = GROUPS,
    ) -> MediaDcr:
        """A new media room on the DataLab, base audience provisioned, seed audiences uploaded;
        the advertiser's view of it."""
        room = MediaDcr(
            self.clients[PUBLISHER],
            name=name,
            participants=participants,
            collaboration_types=TYPES,
            matching_ids=[IdType.EMAIL],
            privacy=privacy,
            base_audience=self.lab,
            minimum_group_size=K,
        )
        room.provision_base_audience(self.lab.id, self.key)
        shop = MediaDcr.from_existing(room.id, self.clients[ADVERTISER])
        shop.upload_seed_audiences(self.files / "seed.csv", sr.Key())
        return shop


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("web-media-actions")
    server = start_server(root)
    try:
        tokens = {e: server.add_user(e) for e in (PUBLISHER, ADVERTISER, AGENCY, NEWCOMER)}
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
        yield Setup(server, tokens, clients, data, files, key, lab)
    finally:
        stop_server(server)


def checked(someone: Person, where: str) -> None:
    someone.shot(where)
    someone.check_accessibility(where)
    someone.assert_fits_the_screen()
    assert someone.console_errors == [], someone.console_errors


def open_media(page: Page, url: str, room_id: str) -> None:
    page.goto(f"{url}/rooms/{room_id}/media")
    expect(page.locator("[data-verified='media']")).to_be_visible(timeout=60_000)


def show_audiences(page: Page) -> None:
    page.get_by_role("button", name="Show audiences").click()
    expect(page.locator("[data-audience-table]")).to_be_visible(timeout=120_000)


def custom(shop: MediaDcr, name: str) -> CustomAudience | None:
    """The custom audience ``name`` of the advertiser's list, as the SDK reads it."""
    return next((a for a in shop.get_audiences().custom if a.name == name), None)


def rule_count(data: MediaData) -> int:
    """The rule's audience, counted in plain Python: (sports and f) or (browsers aged 18-24 or
    m), minus the buyers."""
    segments: dict[str, set[str]] = {}
    for user, segment in data.segments:
        segments.setdefault(user, set()).add(segment)
    demographics = {user: (age, gender) for user, age, gender in data.demographics}
    users = data.users_of_email()
    browsers = {users[e] for e, t in data.seed if t == "browsers" and e in users}
    sporty_women = {
        u for u in data.users() if "sports" in segments.get(u, set()) and demographics[u][1] == "f"
    }
    young_or_men = {
        u for u in browsers if demographics[u][0] == "18-24" or demographics[u][1] == "m"
    }
    return len((sporty_women | young_or_men) - data.overlap("buyers"))


def test_a_rule_based_audience_made_in_the_browser_is_the_sdks(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: Setup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    shop = setup.room("rules")
    url, room_id = setup.server.url, shop.id
    attributes = shop.get_data_attributes().wait_for_completion(timeout=120).result()["attributes"]
    name = "sporty women or young browsers, not buyers"
    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        show_audiences(page)
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("RULE_BASED")
        rules = form.locator("[data-rule-based]")
        expect(rules).to_be_visible(timeout=120_000)
        form.get_by_label("Audience name").fill(name)
        rules.get_by_label("Start from").select_option(label="All base users")

        # Filters on the source: the attributes and values data_attributes released, no more.
        rules.get_by_role("button", name="Add a filter on the source").click()
        first = rules.locator("[data-filter]").nth(0)
        expect(first.locator("legend").first).to_have_text("Filter 1 on the source")
        first.get_by_label("Attribute").select_option("segment")
        offered = first.locator("[data-values] input").evaluate_all(
            "(boxes) => boxes.map(b => b.value)"
        )
        assert offered == attributes["segment"]["values"]
        assert "rare" not in offered  # 5 users: under the minimum group size
        first.get_by_label("Condition").select_option("CONTAINS_ANY_OF")
        first.get_by_label("sports", exact=True).check()
        rules.get_by_role("button", name="Add a filter on the source").click()
        second = rules.locator("[data-filter]").nth(1)
        second.get_by_label("Attribute").select_option("gender")
        second.get_by_label("f", exact=True).check()

        # Then a union with a filtered seed audience (any of two filters), then a difference.
        rules.get_by_role("button", name="Add a combination").click()
        union = rules.locator("[data-step]").nth(0)
        union.get_by_label("Then take the audience so far").select_option("UNION")
        union.get_by_label("Audience", exact=True).select_option(label="Seed audience browsers")
        union.get_by_role("button", name="Add a filter on combination 1").click()
        union.get_by_role("button", name="Add a filter on combination 1").click()
        step_filters = union.locator("[data-filter]")
        step_filters.nth(0).get_by_label("Attribute").select_option("age")
        step_filters.nth(0).get_by_label("18-24", exact=True).check()
        step_filters.nth(1).get_by_label("Attribute").select_option("gender")
        step_filters.nth(1).get_by_label("m", exact=True).check()
        union.get_by_label("any of these filters").check()
        rules.get_by_role("button", name="Add a combination").click()
        diff = rules.locator("[data-step]").nth(1)
        diff.get_by_label("Then take the audience so far").select_option("DIFF")
        diff.get_by_label("Audience", exact=True).select_option(label="Seed audience buyers")
        checked(adam, "rule-form")

        form.get_by_role("button", name="Create audience").click()
        created = page.locator(f"tr[data-audience='{name}']")
        expect(created).to_be_visible(timeout=180_000)
        expect(created).to_contain_text(
            "Rule-based: all base users whose segment is any of sports and gender is any of f; "
            "plus seed audience “browsers” whose age is any of 18-24 or gender is any of m; "
            "minus seed audience “buyers”"
        )
        checked(adam, "rule-created")

        # The SDK reads the definition its own builder makes of the same choices.
        made = custom(shop, name)
        assert made is not None
        assert made.created_by == ADVERTISER
        assert made.created_by_group == "g-advertiser"
        expected = (
            RuleBasedAudienceBuilder(name=name, source_audience="BASE")
            .with_filters(
                AudienceFilters(
                    [Filter("segment", ["sports"]), Filter("gender", ["f"])],
                    MatchOperator.MATCH_ALL,
                )
            )
            .with_combinator(
                [
                    AudienceCombinator(
                        CombineOperator.UNION,
                        AudienceReference.seed("browsers"),
                        AudienceFilters(
                            [Filter("age", ["18-24"]), Filter("gender", ["m"])],
                            MatchOperator.MATCH_ANY,
                        ),
                    ),
                    AudienceCombinator(CombineOperator.DIFF, AudienceReference.seed("buyers")),
                ]
            )
            .build()
        )
        assert made.definition == expected.definition

        # Its size: the SDK's, and what plain Python counts (rounded as released).
        sdk_size = shop.get_audience_size(made).wait_for_completion(timeout=300).result()["size"]
        assert sdk_size == released(rule_count(setup.data))
        created.get_by_role("button", name=f"Size of {name}").click()
        expect(created.locator("[data-field='size']")).to_have_attribute(
            "data-value", str(sdk_size), timeout=ENGINE_TIMEOUT_MS
        )

        # A filter without values is refused before anything is written.
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("RULE_BASED")
        rules = form.locator("[data-rule-based]")
        expect(rules).to_be_visible(timeout=120_000)
        form.get_by_label("Audience name").fill("no values")
        rules.get_by_role("button", name="Add a filter on the source").click()
        form.get_by_role("button", name="Create audience").click()
        expect(form.locator("p[aria-live]")).to_contain_text("needs values")
        assert custom(shop, "no values") is None
        checked(adam, "rule-refused")


def test_an_audience_made_while_another_group_writes_keeps_both(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: Setup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    shop = setup.room("at once")
    url, room_id = setup.server.url, shop.id
    news = MediaDcr.from_existing(room_id, setup.clients[PUBLISHER])
    writes: list[str] = []

    def publisher_writes_first(route: Route) -> None:
        # The browser has read the definitions; the publisher's group publishes its own before
        # the browser's write reaches the core, which then refuses that write as stale.
        if not writes:
            built = RemarketingAudienceBuilder(name="theirs", source_audience_type="browsers")
            writes.append(news.create_remarketing_audience(built.build()).id)
        route.continue_()

    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        show_audiences(page)
        page.route("**/nodes/custom_audiences/dataset", publisher_writes_first)
        form = page.locator("[data-create-audience]")
        form.get_by_label("Kind").select_option("REMARKETING")
        form.get_by_label("Audience name").fill("mine")
        form.get_by_label("Seed audience").select_option("buyers")
        form.get_by_role("button", name="Create audience").click()
        expect(page.locator("tr[data-audience='mine']")).to_be_visible(timeout=ENGINE_TIMEOUT_MS)
        page.unroute("**/nodes/custom_audiences/dataset")
        # The core's refusal of the stale write, which the browser logs; then it read again.
        assert adam.console_errors == [
            "Failed to load resource: the server responded with a status of 409 (Conflict)"
        ]
        adam.console_errors.clear()
        checked(adam, "both-kept")
    assert writes
    names = {a.name for a in news._custom_audiences()}
    assert names == {"mine", "theirs"}


def test_sharing_and_deleting_follow_the_sdks_rules(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: Setup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    shop = setup.room("share and delete")
    url, room_id = setup.server.url, shop.id
    news = MediaDcr.from_existing(room_id, setup.clients[PUBLISHER])
    agency = MediaDcr.from_existing(room_id, setup.clients[AGENCY])
    buyers = shop.create_remarketing_audience(
        RemarketingAudienceBuilder(name="buyers again", source_audience_type="buyers").build()
    )
    kept = shop.create_remarketing_audience(
        RemarketingAudienceBuilder(name="kept", source_audience_type="browsers").build()
    )
    built_on = shop.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="sporty buyers", source_audience=buyers)
        .with_filters(AudienceFilters([Filter("segment", ["sports"])]))
        .build()
    )
    on_top = shop.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="sporty buyers but browsers", source_audience=built_on)
        .with_combinator(
            [AudienceCombinator(CombineOperator.DIFF, AudienceReference.seed("browsers"))]
        )
        .build()
    )
    # The publisher's audience, on the advertiser's "kept", shared with the advertiser.
    news.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="publisher's", source_audience=kept)
        .with_filters(
            AudienceFilters([Filter("age", [], FilterOperator.NOT_EMPTY)], MatchOperator.MATCH_ANY)
        )
        .with_share_with_participants(["g-advertiser"])
        .build()
    )
    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        show_audiences(page)
        # Another group's audience, shared with this one: no share or delete here.
        theirs = page.locator('tr[data-audience="publisher\'s"]')
        expect(theirs).to_be_visible()
        expect(theirs.get_by_role("button", name="Share publisher's")).to_have_count(0)
        expect(theirs.get_by_role("button", name="Delete publisher's")).to_have_count(0)

        # Share: the agency now has it in its list (SDK), shared with its group id.
        assert "buyers again" not in {a.name for a in agency.get_audiences().custom}
        page.get_by_role("button", name="Share buyers again").click()
        share = page.locator("[data-share-audience='buyers again']")
        expect(share).to_be_visible()
        share.get_by_label("Agency").check()
        checked(adam, "share-form")
        share.get_by_role("button", name="Share now").click()
        status = page.locator("[data-section='audiences'] > p[aria-live]")
        expect(status).to_contain_text(
            "Shared the audience “buyers again” with Agency", timeout=180_000
        )
        assert "buyers again" in {a.name for a in agency.get_audiences().custom}
        shared = custom(shop, "buyers again")
        assert shared is not None
        assert shared.shared_with == ["g-agency"]
        assert shared.definition == buyers.definition
        expect(page.locator("tr[data-audience='buyers again']")).to_contain_text(
            "shared with Agency"
        )

        # Delete one that two others are built on: refused without its dependents...
        page.get_by_role("button", name="Delete buyers again").click()
        delete = page.locator("[data-delete-audience='buyers again']")
        expect(delete).to_contain_text("These audiences are built on it")
        expect(delete).to_contain_text("“sporty buyers”")
        expect(delete).to_contain_text("“sporty buyers but browsers”")
        checked(adam, "delete-form")
        delete.get_by_role("button", name="Delete now").click()
        expect(delete.locator("p[aria-live]")).to_contain_text("depends on one you delete")
        names = {a.name for a in shop.get_audiences().custom}
        assert {"buyers again", "sporty buyers", "sporty buyers but browsers"} <= names
        # ... and deleted with them when asked, as delete_dependent_audiences=True does.
        delete.get_by_label("Delete them too").check()
        delete.get_by_role("button", name="Delete now").click()
        expect(status).to_contain_text(
            "Deleted the audience “buyers again” and 2 audiences built on it.", timeout=180_000
        )
        left = {a.id for a in shop.get_audiences().custom}
        assert left.isdisjoint({buyers.id, built_on.id, on_top.id})
        assert kept.id in left
        expect(page.locator("tr[data-audience='buyers again']")).to_have_count(0)

        # Another group's audience is built on "kept": the page explains and offers no deletion.
        page.get_by_role("button", name="Delete kept").click()
        delete = page.locator("[data-delete-audience='kept']")
        expect(delete).to_contain_text("“publisher's” (of Publisher)")
        expect(delete).to_contain_text("they must delete theirs first")
        expect(delete.get_by_role("button", name="Delete now")).to_have_count(0)
        checked(adam, "delete-refused")
    assert kept.id in {a.id for a in shop.get_audiences().custom}
    assert {a.name for a in news.get_audiences().custom} >= {"publisher's"}


def budget_of(page: Page) -> dict[str, float]:
    shown = page.locator("[data-budget] [data-epsilon-spent]")
    return {
        key: float(shown.get_attribute(f"data-epsilon-{key}") or "nan")
        for key in ("budget", "spent", "remaining")
    }


def test_the_privacy_budget_is_the_sdks_and_read_from_the_verified_log(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: Setup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    shop = setup.room(
        "dp", MediaPrivacy.differential_privacy(epsilon_budget=2.0, epsilon_per_run=0.5)
    )
    url, room_id = setup.server.url, shop.id

    def sdk() -> dict[str, float]:
        budget = shop.retrieve_privacy_budget()
        return {
            "budget": budget.epsilon_budget,
            "spent": budget.epsilon_spent,
            "remaining": budget.epsilon_remaining,
        }

    def expect_spent(page: Page, spent: str) -> None:
        expect(page.locator("[data-budget] [data-epsilon-spent]")).to_have_attribute(
            "data-epsilon-spent", spent, timeout=ENGINE_TIMEOUT_MS
        )

    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        # Read when the page opens: nothing spent yet.
        expect_spent(page, "0")
        assert budget_of(page) == sdk() == {"budget": 2.0, "spent": 0.0, "remaining": 2.0}
        expect(page.locator("[data-privacy='DIFFERENTIAL_PRIVACY']")).to_have_text(
            "Privacy: differential privacy. Every run of the overlap, insights, an audience size "
            "or lookalike statistics is a noisy count costing ε = 0.5 of the room's budget of "
            "ε = 2, and the core refuses runs past it."
        )
        checked(adam, "budget-fresh")

        # The overlap: the engine's noisy counts, opened in the browser, and charged.
        page.get_by_role("button", name="Show overlap").click()
        overlap = page.locator("[data-overlap]")
        expect(overlap).to_be_visible(timeout=ENGINE_TIMEOUT_MS)
        expect(overlap.locator("caption")).to_contain_text("Noisy counts (differential privacy)")
        shown = {
            row.get_attribute("data-audience-type"): row.locator("[data-field='overlap_size']")
            for row in overlap.locator("tbody tr[data-audience-type]").all()
        }
        assert set(shown) == {"buyers", "browsers", "tiny"}
        # 500 buyers matched, plus noise of scale 18 (9 counts at epsilon 0.5), rounded to 100.
        assert abs(int(shown["buyers"].inner_text().replace(",", "")) - 500) <= 200
        expect_spent(page, "0.5")
        assert budget_of(page) == sdk()

        # A size in the browser is charged, and the page reads the budget again by itself.
        show_audiences(page)
        buyers = page.locator("tr[data-audience='buyers']")
        buyers.get_by_role("button", name="Size of buyers").click()
        expect_spent(page, "1")
        assert budget_of(page) == sdk()

        # A run through the SDK: the page shows it when asked.
        shop.get_audience_size(AudienceReference.seed("browsers")).wait_for_completion(300).result()
        page.get_by_role("button", name="Check the budget").click()
        expect_spent(page, "1.5")
        assert budget_of(page) == sdk()
        expect(page.locator("[data-budget-exhausted]")).to_have_count(0)

        # The last run the budget pays for; then the core refuses, and nothing more is spent.
        buyers.get_by_role("button", name="Size of buyers").click()
        expect_spent(page, "2")
        expect(page.locator("[data-budget-exhausted]")).to_be_visible()
        assert budget_of(page) == sdk() == {"budget": 2.0, "spent": 2.0, "remaining": 0.0}
        buyers.get_by_role("button", name="Size of buyers").click()
        status = page.locator("[data-section='audiences'] > p[aria-live]")
        expect(status).to_contain_text("privacy budget", timeout=ENGINE_TIMEOUT_MS)
        assert budget_of(page) == sdk()
        checked(adam, "budget-spent")

        # A host that rewrites a charge in the log is caught: the figure is not the host's.
        def halve_charges(route: Route) -> None:
            body = route.fetch().json()
            for entry in body["entries"]:
                if entry["action"] == "PRIVACY_BUDGET_CHARGED":
                    entry["details"]["epsilon"] = "0.25"
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

        page.route("**/audit-log", halve_charges)
        page.get_by_role("button", name="Check the budget").click()
        line = page.locator("[data-section='budget'] p[aria-live]")
        expect(line).to_have_class(re.compile(r"\berror\b"), timeout=30_000)
        expect(line).not_to_contain_text("Read from the room's audit log")
        expect(page.locator("[data-budget] [data-epsilon-spent]")).to_have_attribute(
            "data-epsilon-spent", "2"
        )
        page.unroute("**/audit-log")


#: The advertiser manages its group's people.
MANAGED = [
    GROUPS[0],
    Participant(
        [ADVERTISER],
        [*GROUPS[1].permissions, P.MANAGE_USERS],
        "Advertiser",
        id="g-advertiser",
    ),
    GROUPS[2],
]


def pending_card(page: Page, email: str, verb: str) -> Locator:
    page.get_by_role("button", name="Show membership requests").click()
    card = page.locator("[data-membership]", has_text=f"{email} {verb}")
    expect(card).to_be_visible(timeout=60_000)
    return card


def test_people_join_and_leave_a_group_from_the_browser(
    chromium: Browser,  # noqa: F811 (the fixture)
    setup: Setup,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    shop = setup.room("people", participants=MANAGED)
    url, room_id = setup.server.url, shop.id
    news = MediaDcr.from_existing(room_id, setup.clients[PUBLISHER])
    wanted = [P.VIEW_OVERLAP, P.EXPORT_AUDIENCE]
    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        people = page.locator("[data-section='people']")
        form = people.locator("[data-add-member]")
        # Someone already in a group is refused before anything is drafted.
        form.get_by_label("E-mail address").fill(AGENCY)
        form.get_by_label("see the overlap").check()
        form.get_by_role("button", name="Ask to add").click()
        expect(form.locator("p[aria-live]")).to_contain_text("already in participant group")

        # A host that drafts more than was asked is refused, and nothing is submitted: cole
        # would own the segments too, or be recognised by another trust root than the
        # platform's CA (which could be anyone's).
        attack = {"kind": ""}

        def lying_drafts(route: Route) -> None:
            answer = route.fetch()
            draft = answer.json()
            commit = json.loads(draft["commit"])
            if attack["kind"] == "owner":
                commit["owners"] = [
                    {"email": NEWCOMER, "data_owner_of": ["segments"], "root": None}
                ]
            else:
                assert commit["analysts"][0]["root"] is not None  # the platform's CA
                commit["analysts"][0]["root"] = "someone-elses-ca"
            draft["commit"] = json.dumps(commit)
            route.fulfill(response=answer, body=json.dumps(draft))

        page.route("**/commit-drafts", lying_drafts)
        form.get_by_label("E-mail address").fill(NEWCOMER)
        form.get_by_label("size audiences and export their user lists").check()
        for kind, why in (("owner", "other data owners"), ("root", "how the room recognises")):
            attack["kind"] = kind
            form.get_by_role("button", name="Ask to add").click()
            line = form.locator("p[aria-live]")
            expect(line).to_contain_text("is not what you asked for")
            expect(line).to_contain_text(why)
        assert news.get_membership_requests() == []
        page.unroute("**/commit-drafts")

        # Asked for real: the SDK finds it sound, as if add_user_as_participant had made it.
        form.get_by_role("button", name="Ask to add").click()
        asked = people.locator("[data-asked] [data-request]")
        expect(asked).to_be_visible(timeout=60_000)
        request_id = asked.get_attribute("data-request")
        checked(adam, "member-asked")
        (pending,) = news.get_membership_requests()
        assert pending.request.id == request_id
        assert pending.sound
        assert pending.change.group_id == "g-advertiser"
        assert pending.change.email == NEWCOMER
        assert pending.change.permissions == tuple(wanted)

        # An unsound request (its commit grants more than its note says), made past the SDK.
        owns, runs = ["segments"], ["overlap_statistics", "audience_user_list"]
        shop.dcr.refresh()
        shop.dcr.build_request().add_participant(
            "dan@shop.example", analyst_of=runs, data_owner_of=owns
        ).with_note(
            MembershipChange("g-advertiser", "dan@shop.example", (P.VIEW_OVERLAP,)).note()
        ).submit()

    with person(chromium, url, PUBLISHER, setup.tokens[PUBLISHER], shots) as pia:
        page = pia.page
        open_media(page, url, room_id)
        # The publisher does not manage the advertiser's people: no form, only the requests.
        expect(page.locator("[data-add-member]")).to_have_count(0)
        card = pending_card(page, NEWCOMER, "joins Advertiser")
        expect(card).to_have_attribute("data-sound", "yes")
        expect(card).to_contain_text("see the overlap; size audiences and export their user lists")
        bad = page.locator("[data-membership]", has_text="dan@shop.example joins Advertiser")
        expect(bad).to_have_attribute("data-sound", "no")
        expect(bad).to_contain_text("does not do exactly what its note says")
        expect(bad.get_by_role("button", name="Approve")).to_have_count(0)
        checked(pia, "membership-requests")
        card.get_by_role("button", name="Approve").click()
        expect(page.locator("[data-section='people'] > p[aria-live]")).to_contain_text(
            f"Approved the request for {NEWCOMER}", timeout=60_000
        )
        card = page.locator("[data-membership]", has_text=f"{NEWCOMER} joins")
        expect(card).to_contain_text(f"{PUBLISHER} (approved)")
        expect(card.get_by_role("button", name="Approve")).to_have_count(0)

    with person(chromium, url, ADVERTISER, setup.tokens[ADVERTISER], shots) as adam:
        page = adam.page
        open_media(page, url, room_id)
        card = pending_card(page, NEWCOMER, "joins Advertiser")
        card.get_by_role("button", name="Approve").click()
        card = page.locator("[data-membership]", has_text=f"{NEWCOMER} joins")
        integrate = card.get_by_role("button", name="Integrate")
        expect(integrate).to_be_visible(timeout=60_000)
        integrate.click()
        # The tab is drawn again from the room's new history: cole is in the group.
        expect(page.locator("[data-section='people'] .notice")).to_contain_text(
            f"Integrated: {NEWCOMER} joined Advertiser", timeout=60_000
        )
        expect(page.locator("tr[data-group='Advertiser']")).to_contain_text(
            f"{NEWCOMER} (only: see the overlap; size audiences and export their user lists)"
        )
        checked(adam, "member-joined")
        advertiser = next(g for g in news.refresh().get_participants() if g.id == "g-advertiser")
        assert NEWCOMER in advertiser.emails
        assert advertiser.member_permissions == {NEWCOMER: wanted}
        # Cole may now run the overlap, with his own client.
        cole = MediaDcr.from_existing(room_id, setup.clients[NEWCOMER])
        overlap = cole.get_overlap_statistics().wait_for_completion(timeout=120).result()
        assert {o["audience_type"] for o in overlap["overlap_statistics"]} >= {"buyers"}

        # Leaving: asked here, approved and integrated by the SDK, which finds it sound.
        people = page.locator("[data-section='people']")
        people.get_by_role("button", name=f"Ask to remove {NEWCOMER}").click()
        expect(people.locator("[data-asked] [data-request]")).to_be_visible(timeout=60_000)
        (leaving,) = [r for r in news.get_membership_requests() if r.change.email == NEWCOMER]
        assert leaving.sound
        assert leaving.change.permissions == ()
        news.approve_membership_request(leaving.request.id)
        shop.approve_membership_request(leaving.request.id)
        shop.integrate_membership_request(leaving.request.id)
        advertiser = next(g for g in news.refresh().get_participants() if g.id == "g-advertiser")
        assert NEWCOMER not in advertiser.emails
        assert news.dcr.definition.participant(NEWCOMER) is None
