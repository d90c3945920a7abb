"""``sealroom media overlap|insights|attributes|audiences|create-audience|share-audience|
delete-audience|size|export|lookalike``: what a media room computes, and its audiences.

The ``media`` group (:mod:`sealroom.cli.media_commands`) registers these functions as its
commands. Each result is computed by the core and sealed to the caller's session; the SDK
verifies it before these commands print it (readable tables, :mod:`sealroom.cli.media_view`)
or, with ``--json``, print the whole result as the SDK returns it.

Audiences are named on the command line as ``base``, ``seed:TYPE`` or a custom audience's name
(``custom:NAME`` when the name is ``base`` or starts with ``seed:``), or its id.

Invariants:

* A name is resolved against the room's own listing (``get_audiences``: the seed types, and the
  custom audiences the caller's group created or was given), never guessed: an unknown name or
  seed type is a usage error listing the ones there are, before any computation runs.
* ``export`` writes activation ids (personal data) only where asked: to ``--output`` (created
  0600), else to standard output. Nothing else here writes to disk.
* In differential-privacy mode, every ``size`` and ``lookalike`` run is charged to the room's
  epsilon budget by the core; the commands say so. ``overlap`` and ``insights`` do not exist
  in such a room (their counts would escape the budget): they say which command to use.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    console,
    echo_json,
    escape_untrusted,
    open_client,
    usage_error,
)
from sealroom.cli.media_common import (
    MediaId,
    Timeout,
    fail,
    open_media_room,
    require,
    require_collaboration,
    wait_for,
)
from sealroom.cli.media_parsing import (
    KINDS,
    AudienceName,
    parse_audience,
    parse_combine,
    parse_filter,
    parse_match,
)
from sealroom.cli.media_view import (
    describe_definition,
    print_attributes,
    print_audiences,
    print_insights,
    print_lookalike,
    print_overlap,
    print_size,
)
from sealroom.client._http import DEFAULT_API_URL
from sealroom.errors import ConflictError
from sealroom.media import (
    AudienceCombinator,
    AudienceFilters,
    Audiences,
    CollaborationType,
    CustomAudience,
    ExclusionTargetingAudienceBuilder,
    LookalikeAudienceBuilder,
    MediaDcr,
    Permission,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
)
from sealroom.media import layout as media_layout

if TYPE_CHECKING:
    from sealroom.client import Client
    from sealroom.media import AudienceDraft

__all__ = [
    "find_audience",
    "media_attributes",
    "media_audiences",
    "media_create_audience",
    "media_delete_audience",
    "media_export",
    "media_insights",
    "media_lookalike",
    "media_overlap",
    "media_share_audience",
    "media_size",
]

AudienceArgument = Annotated[
    str,
    typer.Argument(
        metavar="AUDIENCE",
        help="base, seed:TYPE, or a custom audience's name (custom:NAME) or id.",
        show_default=False,
    ),
]


def _dp_refusal(room: MediaDcr, what: str) -> None:
    if room.config.privacy.is_dp:
        usage_error(
            f"media room {room.id} uses differential privacy: it releases no {what} table (its "
            "exact counts would escape the budget); `sealroom media size ID seed:TYPE` gives a "
            "noisy size, charged to the budget"
        )


def _budget_note(room: MediaDcr) -> None:
    if room.config.privacy.is_dp:
        typer.echo(
            f"note: this run was charged epsilon {room.config.privacy.epsilon_per_run:g} from "
            "the room's budget (sealroom media show)",
            err=True,
        )


# -- resolving audiences ----------------------------------------------------------------------
def _listing(room: MediaDcr, listing: list[Audiences]) -> Audiences:
    """The room's audiences, read once per command (two computations in the core)."""
    if not listing:
        with console.status("reading the room's audiences"):
            listing.append(room.get_audiences())
    return listing[0]


def find_audience(room: MediaDcr, name: AudienceName, listing: list[Audiences]) -> Any:
    """What the SDK takes for ``name``: ``"BASE"``, a :class:`SeedAudience` or a
    :class:`CustomAudience` the caller's group sees; a usage error naming the ones there are."""
    if name.kind == "BASE":
        return "BASE"
    audiences = _listing(room, listing)
    if name.kind == "SEED":
        types = [a.audience_type for a in audiences.seed]
        if not types:
            usage_error(
                f"media room {room.id} has no seed audiences yet (sealroom media "
                "upload-seed-audiences)"
            )
        if name.value not in types:
            usage_error(
                escape_untrusted(
                    f"no seed audience {name.value!r}; the seed audiences: "
                    + ", ".join(f"seed:{t}" for t in types)
                )
            )
        return audiences.get_seed_audience(name.value)
    for audience in audiences.custom:
        if audience.name == name.value:
            return audience
    by_id = [a for a in audiences.custom if a.id == name.value.lower()]
    if by_id:
        return by_id[0]
    known = ", ".join(repr(a.name) for a in audiences.custom) or "none"
    usage_error(
        escape_untrusted(
            f"no custom audience {name.value!r} for your group; yours: {known} (or base, seed:TYPE)"
        )
    )


def _custom(room: MediaDcr, text: str, listing: list[Audiences]) -> CustomAudience:
    name = parse_audience(text)
    if name.kind != "CUSTOM":
        usage_error(f"{text!r} is not a custom audience: only those are shared or deleted")
    found = find_audience(room, name, listing)
    assert isinstance(found, CustomAudience)
    return found


def _groups(room: MediaDcr, names: list[str]) -> list[str]:
    """The ids of the groups named by role (any case) or id."""
    ids = []
    for text in names:
        wanted = text.strip().lower()
        match = [g for g in room.config.participants if wanted in (g.role.lower(), g.id.lower())]
        if not match:
            usage_error(
                escape_untrusted(
                    f"--share-with {text!r} is no group of this room; its groups: "
                    + ", ".join(g.role for g in room.config.participants)
                )
            )
        ids.append(match[0].id)
    return list(dict.fromkeys(ids))


# -- results ----------------------------------------------------------------------------------
def media_overlap(
    media_id: MediaId,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """How many users of each seed audience are in the base audience (rounded sizes)."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, *media_layout.ANALYSTS[media_layout.OVERLAP])
        _dp_refusal(room, "overlap")
        result = wait_for(room.get_overlap_statistics(), "computing the overlap", timeout)
    if as_json:
        echo_json(result)
    else:
        print_overlap(result, room.config)


def media_insights(
    media_id: MediaId,
    audience_type: Annotated[
        list[str] | None,
        typer.Option(metavar="TYPE", help="Only this seed audience type (repeatable)."),
    ] = None,
    aggregation: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ATTRIBUTE",
            help="Only segment, age, gender or age_gender (repeatable).",
        ),
    ] = None,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """How each seed audience's overlap differs from the base audience, by attribute.

    By segment, age and gender: shares, net propensity (points) and affinity (overlap share /
    base share).
    """
    chosen = [a.strip().lower() for a in aggregation or []]
    unknown = [a for a in chosen if a not in ("segment", "age", "gender", "age_gender")]
    if unknown:
        usage_error(f"--aggregation {unknown[0]!r}: use segment, age, gender or age_gender")
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, *media_layout.ANALYSTS[media_layout.INSIGHTS])
        require_collaboration(room, CollaborationType.INSIGHTS)
        _dp_refusal(room, "insights")
        result = wait_for(room.get_insights(), "computing the insights", timeout)
    if as_json:
        echo_json(result)
        return
    printed = print_insights(result, room.config, [t.strip() for t in audience_type or []], chosen)
    if not printed:
        typer.echo(
            "no insights to show: a seed audience's overlap needs "
            f"{room.config.privacy.minimum_audience_size} users"
            + (
                " (or nothing matched --audience-type/--aggregation)"
                if audience_type or chosen
                else ""
            ),
            err=True,
        )


def media_attributes(
    media_id: MediaId,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The segment, age and gender values rule-based audiences may filter on.

    Each is held by at least the room's minimum group size of users.
    """
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, *media_layout.ANALYSTS[media_layout.DATA_ATTRIBUTES])
        result = wait_for(room.get_data_attributes(), "reading the data attributes", timeout)
    if as_json:
        echo_json(result)
        return
    print_attributes(result)
    typer.echo("filter on them: --filter ATTRIBUTE:any-of:VALUE,VALUE (create-audience)", err=True)


# -- audiences --------------------------------------------------------------------------------
def _audience_json(audience: Any) -> dict[str, Any]:
    return dataclasses.asdict(audience)


def media_audiences(
    media_id: MediaId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The seed audiences, and the custom audiences your group created or was given."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        audiences = _listing(room, [])
    if as_json:
        echo_json(
            {
                "seed": [_audience_json(a) for a in audiences.seed],
                "custom": [_audience_json(a) for a in audiences.custom],
            }
        )
        return
    print_audiences(audiences, room.config)


def media_create_audience(
    media_id: MediaId,
    name: Annotated[str, typer.Option(help="The audience's name.", show_default=False)],
    kind: Annotated[
        str,
        typer.Option(
            metavar="KIND",
            help="remarketing (a seed audience's users in the base audience), exclusion (the "
            "base audience without them), rule-based (filters and combinations), lookalike.",
            show_default=False,
        ),
    ],
    seed_type: Annotated[
        str | None,
        typer.Option(metavar="TYPE", help="remarketing, exclusion: the seed audience type."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            metavar="AUDIENCE",
            help="rule-based (default: base), lookalike: the audience it starts from: base, "
            "seed:TYPE or a custom audience.",
        ),
    ] = None,
    reach: Annotated[
        int | None,
        typer.Option(metavar="PERCENT", help="lookalike: 1 to 30 % of the addressable users."),
    ] = None,
    exclude_seed: Annotated[
        bool,
        typer.Option("--exclude-seed", help="lookalike: leave out the source audience's users."),
    ] = False,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="ATTRIBUTE:OPERATOR[:VALUES]",
            help="rule-based: e.g. segment:any-of:sports,cars or age:not-empty (attributes: "
            "segment, age, gender; operators: any-of, none-of, all-of, empty, not-empty); "
            "repeatable. Values: `sealroom media attributes`.",
        ),
    ] = None,
    match: Annotated[
        str, typer.Option(metavar="all|any", help="rule-based: every --filter holds, or one.")
    ] = "all",
    combine: Annotated[
        list[str] | None,
        typer.Option(
            metavar="OPERATOR:AUDIENCE",
            help="rule-based: then intersect, union or diff with another audience, e.g. "
            "diff:seed:buyers; repeatable, applied in order.",
        ),
    ] = None,
    share_with: Annotated[
        list[str] | None,
        typer.Option(metavar="GROUP", help="Share it with this group (its role); repeatable."),
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Create a custom audience (its definition) in the room and print its id.

    Nothing is computed yet: `size`, `export` and `lookalike` do that.
    """
    key = kind.strip().lower()
    if key not in KINDS:
        usage_error(f"--kind {kind!r}: use remarketing, exclusion, rule-based or lookalike")
    definition_kind, collaboration = KINDS[key]
    given = {
        "--seed-type": seed_type is not None,
        "--source": source is not None,
        "--reach": reach is not None,
        "--exclude-seed": exclude_seed,
        "--filter": bool(filter_),
        "--combine": bool(combine),
        "--match": match != "all",
    }
    takes = {
        "REMARKETING": {"--seed-type"},
        "EXCLUSION_TARGETING": {"--seed-type"},
        "LOOKALIKE": {"--source", "--reach", "--exclude-seed"},
        "RULE_BASED": {"--source", "--filter", "--combine", "--match"},
    }[definition_kind]
    extra = [option for option, is_given in given.items() if is_given and option not in takes]
    if extra:
        usage_error(
            f"--kind {key} does not take {', '.join(extra)}; it takes {', '.join(sorted(takes))}"
        )
    if definition_kind in ("REMARKETING", "EXCLUSION_TARGETING") and not seed_type:
        usage_error(f"--kind {key} needs --seed-type TYPE")
    if definition_kind == "LOOKALIKE" and (source is None or reach is None):
        usage_error("--kind lookalike needs --source AUDIENCE and --reach PERCENT (1 to 30)")
    filters = [parse_filter(spec) for spec in filter_ or []]
    matcher = parse_match(match)
    steps = [parse_combine(spec) for spec in combine or []]
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.CREATE_CUSTOM_AUDIENCE)
        require_collaboration(room, collaboration)
        groups = _groups(room, share_with or [])
        listing: list[Audiences] = []
        draft: AudienceDraft
        if definition_kind in ("REMARKETING", "EXCLUSION_TARGETING"):
            assert seed_type is not None
            seed = find_audience(room, AudienceName("SEED", seed_type.strip()), listing)
            builder_class = (
                RemarketingAudienceBuilder
                if definition_kind == "REMARKETING"
                else ExclusionTargetingAudienceBuilder
            )
            draft = (
                builder_class(name=name, source_audience_type=seed.audience_type)
                .with_share_with_participants(groups)
                .build()
            )
        elif definition_kind == "LOOKALIKE":
            assert source is not None
            assert reach is not None
            start = find_audience(room, parse_audience(source, "--source"), listing)
            lookalike = LookalikeAudienceBuilder(name=name, reach=reach, source_audience=start)
            if exclude_seed:
                lookalike.with_exclude_seed_audience()
            draft = lookalike.with_share_with_participants(groups).build()
        else:
            start = find_audience(room, parse_audience(source or "base", "--source"), listing)
            rule = RuleBasedAudienceBuilder(name=name, source_audience=start)
            if filters:
                rule.with_filters(AudienceFilters(filters, matcher))
            if steps:
                rule.with_combinator(
                    [
                        AudienceCombinator(operator, find_audience(room, other, listing))
                        for operator, other in steps
                    ]
                )
            draft = rule.with_share_with_participants(groups).build()
        create = {
            "REMARKETING": room.create_remarketing_audience,
            "EXCLUSION_TARGETING": room.create_exclusion_targeting_audience,
            "LOOKALIKE": room.create_lookalike_audience,
            "RULE_BASED": room.create_rule_based_audience,
        }[definition_kind]
        with console.status("writing the audience's definition to the room"):
            created = create(draft)
        names = {a.id: a.name for a in (listing[0].custom if listing else [])}
    typer.echo(
        escape_untrusted(
            f"created audience {created.name!r} ({created.id}): "
            + describe_definition(created.definition, names)
        ),
        err=True,
    )
    typer.echo(f"next: sealroom media size {room.id} {_quoted(created.name)}", err=True)
    if as_json:
        echo_json(_audience_json(created))
    else:
        typer.echo(created.id)


def _quoted(text: str) -> str:
    import shlex

    return escape_untrusted(shlex.quote(text))


def media_share_audience(
    media_id: MediaId,
    audience: AudienceArgument,
    share_with: Annotated[
        list[str],
        typer.Option(
            metavar="GROUP",
            help="A group (its role) to share it with; repeatable.",
            show_default=False,
        ),
    ],
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Share a custom audience your group created with other groups of the room."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.CREATE_CUSTOM_AUDIENCE)
        target = _custom(room, audience, [])
        groups = _groups(room, share_with)
        room.share_audiences([target], groups)
    roles = {g.id: g.role for g in room.config.participants}
    shared = list(dict.fromkeys([*target.shared_with, *groups]))
    typer.echo(
        escape_untrusted(
            f"audience {target.name!r} is shared with: "
            + ", ".join(roles.get(g, g) for g in shared)
        )
    )


def media_delete_audience(
    media_id: MediaId,
    audience: AudienceArgument,
    with_dependents: Annotated[
        bool,
        typer.Option("--with-dependents", help="Also delete the audiences built on this one."),
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Delete a custom audience your group created."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.CREATE_CUSTOM_AUDIENCE)
        listing: list[Audiences] = []
        target = _custom(room, audience, listing)
        try:
            room.delete_audiences([target], delete_dependent_audiences=with_dependents)
        except ConflictError as error:
            if error.code != "has_dependents":
                raise
            dependents = [a.name for a in listing[0].custom if target.id in a.depends_on()]
            fail(
                escape_untrusted(
                    f"audience {target.name!r} is the source of "
                    + (", ".join(repr(n) for n in dependents) or "another group's audience")
                    + ": --with-dependents deletes them too"
                )
            )
    typer.echo(escape_untrusted(f"deleted audience {target.name!r} ({target.id})"))


# -- computing audiences ----------------------------------------------------------------------
def _audience_for(
    client: Client,
    media_id: str,
    audience: str,
    computation: str,
    collaboration: CollaborationType | None = None,
) -> tuple[MediaDcr, Any]:
    """The room, verified, and what the SDK takes for ``audience`` in it, once the caller may
    run ``computation`` (and the room enables ``collaboration``): each check in the order every
    command that computes an audience makes them, each failing with its own clear line before
    the core runs anything."""
    room = open_media_room(client, media_id)
    require(room, *media_layout.ANALYSTS[computation])
    if collaboration is not None:
        require_collaboration(room, collaboration)
    return room, find_audience(room, parse_audience(audience), [])


def media_size(
    media_id: MediaId,
    audience: AudienceArgument,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """How many base users an audience has.

    Rounded; a noisy count in differential-privacy mode; not released below the minimum audience
    size.
    """
    with open_client(api_url, email, token) as client:
        room, target = _audience_for(client, media_id, audience, media_layout.AUDIENCE_SIZE)
        result = wait_for(room.get_audience_size(target), "computing the size", timeout)
    _budget_note(room)
    if as_json:
        echo_json(result)
    else:
        print_size(result, room.config)


def media_export(
    media_id: MediaId,
    audience: AudienceArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the ids to this file (created 0600), not stdout."
        ),
    ] = None,
    activation_id: Annotated[
        str | None,
        typer.Option(
            metavar="COLUMN",
            help="The activation identifier to export (one the room agreed; default: its first).",
        ),
    ] = None,
    timeout: Timeout = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The activation ids of an audience's users, one per line (to activate it on an ad platform).

    Refused below the room's minimum audience size.
    """
    if output is not None and output.is_dir():
        usage_error(f"--output {output} is a directory")
    with open_client(api_url, email, token) as client:
        room, target = _audience_for(client, media_id, audience, media_layout.USER_LIST)
        columns = room.config.activation_columns
        if activation_id is not None and activation_id not in columns:
            usage_error(
                f"--activation-id {activation_id!r} is not an activation identifier of media "
                f"room {room.id}; it has: {', '.join(columns) or 'none'}"
            )
        ids: list[str] = wait_for(
            room.get_audience_user_list(target, activation_id),
            "computing the audience's users",
            timeout,
        )
    if output is None:
        for line in ids:
            typer.echo(escape_untrusted(line))
        typer.echo(f"{len(ids):,} activation ids", err=True)
        return
    # The ids are personal data: the file is the caller's alone from its first byte.
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(f"{line}\n" for line in ids)
    typer.echo(f"wrote {len(ids):,} activation ids to {output}", err=True)


def media_lookalike(
    media_id: MediaId,
    audience: AudienceArgument,
    exclude_seed: Annotated[
        bool,
        typer.Option(
            "--exclude-seed",
            help="For an AUDIENCE that is not a lookalike: leave its users out, as "
            "`create-audience --exclude-seed` would.",
        ),
    ] = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """A lookalike model's quality (ROC AUC) and its size at each reach from 1 to 30 %.

    AUDIENCE is a lookalike audience, or any audience to preview a lookalike of (nothing is
    created).
    """
    with open_client(api_url, email, token) as client:
        room, target = _audience_for(
            client, media_id, audience, media_layout.LOOKALIKE, CollaborationType.LOOKALIKE
        )
        is_lookalike = (
            isinstance(target, CustomAudience) and target.definition.get("kind") == "LOOKALIKE"
        )
        if is_lookalike and exclude_seed:
            usage_error("--exclude-seed is for a source audience: a lookalike audience has it set")
        if not is_lookalike:
            # Every reach is in the result: the draft's own reach does not change it.
            preview = LookalikeAudienceBuilder(name="preview", reach=10, source_audience=target)
            if exclude_seed:
                preview.with_exclude_seed_audience()
            target = preview.build()
        result = wait_for(
            room.get_lookalike_audience_statistics(target), "training the lookalike model", timeout
        )
    _budget_note(room)
    if as_json:
        echo_json(result)
    else:
        print_lookalike(result)
