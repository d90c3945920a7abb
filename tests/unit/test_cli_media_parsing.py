"""What ``sealroom media`` reads from its options and ``--config`` files, and how it describes
audience definitions: valid specs become the SDK's objects, invalid ones exit 2 naming the
valid choices (no server needed; the commands themselves: tests/integration/test_cli_media.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from sealroom.cli.media_parsing import (
    load_config,
    parse_audience,
    parse_combine,
    parse_filter,
    parse_group,
)
from sealroom.cli.media_view import describe_definition, your_commands
from sealroom.data_lab import CollaborationType, IdType
from sealroom.media import (
    CombineOperator,
    FilterOperator,
    MediaPrivacy,
    Participant,
    Permission,
    PrivacyMode,
)
from sealroom.media.config import BaseAudienceLayout, MediaConfig


def usage_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one ``error: …`` line the last refusal printed."""
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert len(err.splitlines()) == 1
    return err


def refused(call: object, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(typer.Exit) as caught:
        call()  # type: ignore[operator]
    assert caught.value.exit_code == 2
    return usage_error(capsys)


def test_a_group_spec_becomes_a_participant_group() -> None:
    group = parse_group("Ad: Agency:a@x.example, b@x.example:view_overlap,EXPORT_AUDIENCE")
    assert group.role == "Ad: Agency"  # the role may hold ':'
    assert group.emails == ["a@x.example", "b@x.example"]
    assert group.permissions == [Permission.VIEW_OVERLAP, Permission.EXPORT_AUDIENCE]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("P:a@x.example:VIEW", "'VIEW' is not a permission; the permissions are VIEW_OVERLAP"),
        ("a@x.example:VIEW_OVERLAP", "write ROLE:E-MAILS:PERMISSIONS"),
        ("P:a:VIEW_OVERLAP", "'a' is not an e-mail"),
        ("P:a@x.example:", "no permission given"),
    ],
)
def test_a_wrong_group_spec_names_what_is_valid(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused(lambda: parse_group(spec), capsys)


def test_filters_take_short_and_seed_operator_names(capsys: pytest.CaptureFixture[str]) -> None:
    short = parse_filter("segment:any-of:sports, cars")
    assert (short.attribute, short.values, short.operator) == (
        "segment",
        ["sports", "cars"],
        FilterOperator.CONTAINS_ANY_OF,
    )
    assert parse_filter("Age:CONTAINS_NONE_OF:18-24").operator is FilterOperator.CONTAINS_NONE_OF
    assert parse_filter("gender:not-empty").values == []
    assert "the attributes are segment, age, gender" in refused(
        lambda: parse_filter("income:any-of:1"), capsys
    )
    assert "needs values" in refused(lambda: parse_filter("segment:all-of"), capsys)
    assert "takes no values" in refused(lambda: parse_filter("age:empty:x"), capsys)
    assert "is not an operator" in refused(lambda: parse_filter("age:like:x"), capsys)


def test_audiences_are_base_seed_or_custom() -> None:
    assert parse_audience(" BASE ").kind == "BASE"
    seed = parse_audience("seed:Big Spenders")
    assert (seed.kind, seed.value, str(seed)) == ("SEED", "Big Spenders", "seed:Big Spenders")
    assert (parse_audience("custom:base").kind, parse_audience("custom:base").value) == (
        "CUSTOM",
        "base",
    )
    assert parse_audience("car fans").value == "car fans"
    operator, other = parse_combine("diff:seed:buyers")
    assert (operator, other.kind, other.value) == (CombineOperator.DIFF, "SEED", "buyers")


def _config() -> MediaConfig:
    return MediaConfig(
        name="room",
        participants=(
            Participant(["p@x.example"], [Permission.PROVIDE_BASE_AUDIENCE], "Publisher"),
            Participant(
                ["a@x.example"],
                [Permission.PROVIDE_SEED_AUDIENCE, Permission.CREATE_CUSTOM_AUDIENCE],
                "Advertiser",
            ),
        ),
        collaboration_types=(CollaborationType.OVERLAP, CollaborationType.LOOKALIKE),
        matching_id=IdType.EMAIL,
        base=BaseAudienceLayout.default(IdType.EMAIL),
        show_match_rate=True,
        privacy=MediaPrivacy.differential_privacy(2.0, 0.5, 200),
    )


def test_a_config_file_is_what_show_json_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config()
    path = tmp_path / "room.json"
    path.write_text(json.dumps(config.to_dict()))
    settings = load_config(path)
    assert settings.groups == list(config.participants)  # ids too
    assert settings.collaboration_types == list(config.collaboration_types)
    assert settings.privacy == config.privacy
    assert settings.base == config.base
    assert settings.show_match_rate
    assert settings.privacy.mode is PrivacyMode.DIFFERENTIAL_PRIVACY
    path.write_text(json.dumps({**config.to_dict(), "matchingIdType": "MAIL"}))
    assert "'MAIL' is not an id type" in refused(lambda: load_config(path), capsys)
    path.write_text("{")
    assert "is not JSON" in refused(lambda: load_config(path), capsys)


def test_definitions_read_as_one_line_with_custom_audiences_by_name() -> None:
    names = {"abc": "buyers on news"}
    lookalike = {
        "kind": "LOOKALIKE",
        "sourceRef": {"kind": "CUSTOM", "id": "abc"},
        "reach": 10,
        "excludeSeedAudience": True,
    }
    assert describe_definition(lookalike, names) == (
        "10% lookalike of 'buyers on news' (seed excluded)"
    )
    rule = {
        "kind": "RULE_BASED",
        "sourceRef": {"kind": "BASE"},
        "filters": {
            "booleanOp": "OR",
            "filters": [
                {"attribute": "segment", "operator": "CONTAINS_ANY_OF", "values": ["a", "b"]},
                {"attribute": "age", "operator": "EMPTY"},
            ],
        },
        "combine": [{"operator": "DIFF", "sourceRef": {"kind": "SEED", "audienceType": "t"}}],
    }
    assert describe_definition(rule, names) == (
        "base where segment any of a,b or age is empty, diff seed:t"
    )


def test_the_commands_a_group_may_use_follow_the_rooms_roles() -> None:
    config = _config()
    advertiser = config.participants[1].permissions
    # DP mode: sizing and lookalikes come with CREATE_CUSTOM_AUDIENCE; the overlap (noisy, in
    # the engine) with VIEW_OVERLAP, which the advertiser's group does not have here.
    assert your_commands(config, advertiser) == [
        "attributes",
        "audiences",
        "create-audience",
        "delete-audience",
        "lookalike",
        "share-audience",
        "show",
        "size",
        "upload-seed-audiences",
    ]
    assert your_commands(config, [Permission.VIEW_OVERLAP]) == ["audiences", "overlap", "show"]
