"""``MediaDcr``: a publisher and advertiser media clean room (the seed SDK's names).

A media room is a Sealroom room (nodes in :mod:`sealroom.media.layout`) whose configuration —
participant groups and their permissions, collaboration types, privacy — is in its description,
so it is part of the room id. Each permission is a role in the definition, which the core
enforces and audits; the checks in this module only give a clearer error first. People join and
leave groups through requests that the data owners approve (:mod:`sealroom.media.members`).

Keys: Sealroom keeps no dataset key on disk (there is no platform keychain), so provisioning
takes the key the data was encrypted with (``key=``). Audience definitions are encrypted with a
fresh key at each change; nobody needs it again.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    AnalyticsDcrDefinition,
    PythonComputeNodeDefinition,
    RequestStatus,
    SqlComputeNodeDefinition,
    SubmittedRequest,
    TableDataNodeDefinition,
)
from sealroom.crypto import Key
from sealroom.data_lab.data_lab import DataLab, DataLabBuilder
from sealroom.data_lab.jobs import ComputeJob, arrow_rows
from sealroom.data_lab.layout import DataLabConfig
from sealroom.data_lab.reports import ValidationReports
from sealroom.data_lab.types import CollaborationType, IdType
from sealroom.errors import (
    ConflictError,
    DatasetRejectedError,
    DefinitionError,
    PermissionDeniedError,
)
from sealroom.media import layout
from sealroom.media.audiences import (
    AudienceDraft,
    Audiences,
    CustomAudience,
    SeedAudience,
    reference_of,
)
from sealroom.media.config import BaseAudienceLayout, MediaConfig
from sealroom.media.members import (
    MembershipChange,
    check_new_member,
    current_groups,
    fits,
    may_manage,
    member_roles,
)
from sealroom.media.results import (
    engine_rows,
    parse_data_attributes,
    parse_insights,
    parse_overlap,
    parse_zip_json,
    parse_zip_lines,
)
from sealroom.media.types import MediaPrivacy, Participant, Permission
from sealroom.model.identities import AuthenticationMethod
from sealroom.model.principal import normalise_email

if TYPE_CHECKING:
    from sealroom.client import Client


def engine_source() -> str:
    """The audience engine's source, embedded verbatim in the room's Python nodes."""
    return (Path(__file__).parent / "engine_script.py").read_text(encoding="utf-8")


#: Each audience definition kind and the collaboration type that enables it.
DEFINITION_KINDS = {
    "LOOKALIKE": CollaborationType.LOOKALIKE,
    "RULE_BASED": CollaborationType.RULE_BASED,
    "REMARKETING": CollaborationType.REMARKETING,
    "EXCLUSION_TARGETING": CollaborationType.EXCLUSION_TARGETING,
}


def created_at_now() -> str:
    """The time now as a custom audience's ``created_at``: ISO 8601, UTC, milliseconds."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: Times a change of the audience definitions is read and applied again when another
#: participant published theirs in between (:meth:`MediaDcr._change_custom`).
CUSTOM_RETRIES = 5


def engine_config(config: MediaConfig) -> dict[str, Any]:
    """What the engine reads from ``/input/code/media_config.json``."""
    return {
        "matching_id": config.matching_column,
        "user_id": config.user_column,
        "activation_ids": list(config.activation_columns),
        "activation_id": config.activation_columns[0] if config.activation_columns else None,
        "minimum_audience_size": config.privacy.minimum_audience_size,
        "rounding": layout.SIZE_ROUNDING,
        "privacy": (
            {"mode": "dp", "epsilon_per_run": config.privacy.epsilon_per_run}
            if config.privacy.is_dp
            else {"mode": "rounding"}
        ),
        # The engine computes overlap and insights only in DP mode (the SQL does otherwise):
        # rounding rooms keep the file they always had.
        **(
            {
                "minimum_group_size": config.minimum_group_size,
                "group_rounding": layout.GROUP_ROUNDING,
                "hide_absolute_values": config.hide_absolute_values,
            }
            if config.privacy.is_dp
            else {}
        ),
        "definition_kinds": sorted(
            kind for kind, collaboration in DEFINITION_KINDS.items() if config.has(collaboration)
        ),
        "lookalike": {
            "features": "embeddings" if config.base.num_embeddings else "segments",
            "max_training_rows": 200_000,
            "seed": 1,
        },
    }


def build_definition(
    owner: str, config: MediaConfig, client: Client | None = None
) -> AnalyticsDcrDefinition:
    """The room's definition (owned by ``owner``): its tables, computations and each group's
    roles (:data:`layout.ANALYSTS`, :attr:`layout.Table.owners`)."""
    config.check()
    builder = (
        AnalyticsDcrBuilder(client=client)
        .with_name(config.name)
        .with_description(config.description())
        .with_owner(owner)
    )
    if config.privacy.is_dp:
        assert config.privacy.epsilon_budget is not None  # MediaPrivacy.check
        builder = builder.with_privacy_budget(config.privacy.epsilon_budget)
    tables = layout.tables(config)
    table_names = [t.name for t in tables]
    for table in tables:
        builder.add_node_definition(
            TableDataNodeDefinition(
                name=table.name,
                columns=table.columns,
                is_required=table.required,
                drop_invalid_rows=table.drop_invalid_rows,
                unique_column_combinations=table.unique,
            )
        )
    computations = layout.computations(config)
    queries: dict[str, Callable[[], str]] = {
        layout.OVERLAP: lambda: layout.overlap_query(config),
        layout.INSIGHTS: lambda: layout.insights_query(config),
        layout.DATA_ATTRIBUTES: lambda: layout.data_attributes_query(config),
        layout.SEED_LIST: lambda: layout.seed_list_query(config),
        layout.CUSTOM_LIST: layout.custom_list_query,
    }
    source = engine_source()
    from sealroom.model.definition import FileContent

    media_config = FileContent(name="media_config.json", content=json.dumps(engine_config(config)))
    epsilon = config.privacy.epsilon_per_run if config.privacy.is_dp else None
    for name in computations:
        operation = layout.engine_operation(config, name)
        if operation is None:
            builder.add_node_definition(
                SqlComputeNodeDefinition(name=name, query=queries[name](), dependencies=table_names)
            )
        else:
            if name == layout.USER_LIST:
                # Also the activation column exported ("" = the default).
                parameters = ["audience", "activation_id"]
            elif name in (layout.OVERLAP, layout.INSIGHTS):
                parameters = []  # DP mode: computed over the whole room
            else:
                parameters = ["audience"]
            builder.add_node_definition(
                PythonComputeNodeDefinition(
                    name=name,
                    script=f"{source}\n\nmain({operation!r})\n",
                    dependencies=table_names,
                    additional_files=[media_config],
                    parameters=parameters,
                    # The user list is an export by permission: it is not noised, not charged.
                    dp_epsilon=epsilon if name != layout.USER_LIST else None,
                )
            )
    for group in config.participants:
        for email in group.emails:
            owns, runs = member_roles(config, group.permissions_of(email))
            builder.add_participant(email, data_owner_of=owns, analyst_of=runs)
    # Interactive: people join and leave groups through requests (sealroom.media.members).
    return builder.with_interactivity(True).build()


@dataclass(frozen=True)
class MembershipRequest:
    """A pending request that changes who is in a group: ``change`` says who joins or leaves
    which ``group`` (None: a group the room does not have). ``sound``: it was asked by someone
    of that group with MANAGE_USERS, on the room's current history, and does exactly what
    ``change`` says — approve only such a request."""

    request: SubmittedRequest
    change: MembershipChange
    group: Participant | None
    sound: bool


@dataclass(frozen=True)
class DcrConfiguration:
    """``MediaDcr.get_configuration()``."""

    id: str
    name: str
    participants: list[Participant]
    collaboration_types: list[CollaborationType]
    matching_id_format: IdType
    hide_absolute_values: bool
    show_match_rate: bool
    privacy: MediaPrivacy


class MediaDcr:
    """A media clean room. ``MediaDcr(client, name=…, participants=…, …)`` publishes a new one;
    :meth:`from_existing` opens one, verified."""

    def __init__(
        self,
        client: Client,
        *,
        name: str,
        participants: list[Participant],
        collaboration_types: list[CollaborationType],
        matching_ids: list[IdType],
        hide_absolute_values: bool = False,
        show_match_rate: bool = False,
        privacy: MediaPrivacy | None = None,
        base_audience: DataLab | DataLabConfig | None = None,
        minimum_group_size: int | None = None,
        _existing: AnalyticsDcr | None = None,
    ) -> None:
        self.client = client
        self._activation_id: str | None = None
        if _existing is not None:
            self.dcr = _existing
            self._read_groups()
            return
        if len(matching_ids) != 1:
            raise DefinitionError("a media room matches on exactly one identifier type")
        types = list(dict.fromkeys(collaboration_types))
        if CollaborationType.OVERLAP not in types:
            types.append(CollaborationType.OVERLAP)  # always on, as in the seed
        if isinstance(base_audience, DataLab):
            base = BaseAudienceLayout.of(base_audience.config)
        elif isinstance(base_audience, DataLabConfig):
            base = BaseAudienceLayout.of(base_audience)
        else:
            base = BaseAudienceLayout.default(matching_ids[0])
        extra = {} if minimum_group_size is None else {"minimum_group_size": minimum_group_size}
        config = MediaConfig(
            name=name,
            participants=tuple(participants),
            collaboration_types=tuple(types),
            matching_id=IdType(matching_ids[0]),
            base=base,
            hide_absolute_values=hide_absolute_values,
            show_match_rate=show_match_rate,
            privacy=privacy or MediaPrivacy(),
            **extra,
        )
        definition = build_definition(client.user_email, config, client)
        self.dcr = client.publish_analytics_dcr(definition)
        self.config = config

    @classmethod
    def from_existing(cls, dcr_id: str, client: Client) -> MediaDcr:
        dcr = client.retrieve_analytics_dcr(dcr_id)
        return cls(
            client,
            name="",
            participants=[],
            collaboration_types=[],
            matching_ids=[],
            _existing=dcr,
        )

    @property
    def id(self) -> str:
        return self.dcr.id

    def _read_groups(self) -> None:
        """The configuration, with the groups as the room's verified history leaves them; the
        room's current definition from the same history."""
        published, commits, pins = self.dcr.session.retrieve_room_history(self.id)
        self.dcr.use_history(published, commits, pins)
        config = MediaConfig.from_description(published.description)
        groups = current_groups(config, published, commits)
        self.config = dataclasses.replace(config, participants=groups)

    def refresh(self) -> MediaDcr:
        """Read the room again: its current definition and who is in each group."""
        self._read_groups()
        return self

    # -- who may do what ---------------------------------------------------------------------
    @property
    def _me(self) -> str:
        return normalise_email(self.client.user_email)

    def _group(self) -> Participant:
        group = self.config.group_of(self._me)
        if group is None:
            raise PermissionDeniedError(
                f"{self._me} is not a participant of media room {self.id}", code="not_participant"
            )
        return group

    def _require(self, *permissions: Permission) -> None:
        group = self._group()
        if not any(p in group.permissions_of(self._me) for p in permissions):
            names = " or ".join(p.value for p in permissions)
            raise PermissionDeniedError(
                f"you lack {names} in media room {self.id} (group {group.role})",
                code="permission_denied",
            )

    def _require_collaboration(self, collaboration: CollaborationType) -> None:
        if not self.config.has(collaboration):
            raise DefinitionError(f"this media room does not enable {collaboration.name}")

    # -- participants and configuration -----------------------------------------------------
    def get_participants(self) -> list[Participant]:
        return list(self.config.participants)

    # -- people: MANAGE_USERS ------------------------------------------------------------------
    def _managed_group(self, participant: Participant | str) -> Participant:
        """The group ``participant`` names (itself, its id or its role), which must be the
        caller's own, and the caller must have MANAGE_USERS."""
        self._require(Permission.MANAGE_USERS)
        wanted = participant.id if isinstance(participant, Participant) else participant
        group = next(
            (g for g in self.config.participants if wanted in (g.id, g.role)),
            None,
        )
        if group is None:
            raise DefinitionError(f"media room {self.id} has no participant group {wanted!r}")
        if group.id != self._group().id:
            raise PermissionDeniedError(
                f"a group manages its own people: you are in {self._group().role!r}, not "
                f"{group.role!r}",
                code="permission_denied",
            )
        return group

    def add_user_as_participant(
        self,
        participant: Participant | str,
        email: str,
        permissions: Sequence[Permission],
        *,
        authentication: AuthenticationMethod | None = None,
    ) -> SubmittedRequest:
        """Ask for ``email`` to join your group with ``permissions`` (some or all of the
        group's). It is a request of the room: an owner of each data node it affects approves
        it (:meth:`approve_membership_request`), then anyone integrates it. ``authentication``:
        how the room will recognise them (default: the platform's CA, if the room trusts it)."""
        group = self._managed_group(participant)
        check_new_member(self.config, group, email, permissions)
        change = MembershipChange(group.id, email, tuple(Permission(p) for p in permissions))
        owns, runs = member_roles(self.config, change.permissions)
        return (
            self.dcr.build_request()
            .add_participant(
                email, analyst_of=runs, data_owner_of=owns, authentication=authentication
            )
            .with_note(change.note())
            .submit()
        )

    def remove_user_from_participant(
        self, participant: Participant | str, email: str
    ) -> SubmittedRequest:
        """Ask for ``email`` to leave your group: every role they hold in the room is
        withdrawn (approved like :meth:`add_user_as_participant`). The core refuses it if they
        are the last owner of data in the room."""
        group = self._managed_group(participant)
        if not group.includes(email):
            raise DefinitionError(f"{email} is not in participant group {group.role!r}")
        definition = self.dcr.refresh().definition
        held = definition.participant(email)
        if held is None:
            raise DefinitionError(f"{email} holds no role in media room {self.id}")
        return (
            self.dcr.build_request()
            .withdraw(email, analyst_of=held.analyst_of, data_owner_of=held.data_owner_of)
            .with_note(MembershipChange(group.id, email).note())
            .submit()
        )

    def get_membership_requests(self) -> list[MembershipRequest]:
        """The pending requests that change who is in a group, each with what it does."""
        self.refresh()
        out = []
        for request in self.dcr.get_submitted_requests():
            if request.status not in (RequestStatus.PENDING, RequestStatus.READY_TO_INTEGRATE):
                continue
            change = MembershipChange.from_note(request.note)
            if change is None:
                continue
            group = next((g for g in self.config.participants if g.id == change.group_id), None)
            commit = request.commit
            sound = (
                group is not None
                and may_manage(self.config.participants, request.owner, change.group_id)
                and commit.history_pin == self.dcr.history_pin
                and fits(change, self.config, self.dcr.definition, commit)
            )
            out.append(MembershipRequest(request, change, group, sound))
        return out

    def approve_membership_request(self, request_id: str) -> SubmittedRequest:
        """Approve a membership request as an owner of data it affects — only one that does
        exactly what it says, asked by someone of that group with MANAGE_USERS."""
        for pending in self.get_membership_requests():
            if pending.request.id == request_id:
                if not pending.sound:
                    raise PermissionDeniedError(
                        f"request {request_id} is not a sound membership change: it is not "
                        "asked by someone of that group with MANAGE_USERS, or it grants other "
                        "roles than its permissions map to; reject it",
                        code="permission_denied",
                    )
                return pending.request.approve()
        raise DefinitionError(f"no pending membership request {request_id} in media room {self.id}")

    def integrate_membership_request(self, request_id: str) -> SubmittedRequest:
        """Integrate an approved membership request; the groups change for everybody."""
        for pending in self.get_membership_requests():
            if pending.request.id == request_id:
                integrated = pending.request.integrate()
                self.refresh()
                return integrated
        raise DefinitionError(f"no pending membership request {request_id} in media room {self.id}")

    def get_owner_email(self) -> str:
        return self.dcr.definition.owner

    def get_configuration(self) -> DcrConfiguration:
        c = self.config
        return DcrConfiguration(
            self.id,
            c.name,
            list(c.participants),
            list(c.collaboration_types),
            c.matching_id,
            c.hide_absolute_values,
            c.show_match_rate,
            c.privacy,
        )

    def can_other_participants_export_audience(self) -> bool:
        mine = self.config.group_of(self._me)
        return any(
            g.has(Permission.EXPORT_AUDIENCE) for g in self.config.participants if g is not mine
        )

    def get_audit_log(self) -> str:
        return self.dcr.retrieve_audit_log()

    def retrieve_privacy_budget(self) -> Any:
        return self.dcr.retrieve_privacy_budget()

    # -- the base audience (publisher) --------------------------------------------------------
    def _published(self) -> dict[str, dict[str, Any]]:
        return {d["node"]: d for d in self.dcr.retrieve_published_datasets()}

    def check_data_lab_compatibility(self, data_lab: DataLab) -> list[str]:
        """Why ``data_lab`` cannot be this room's base audience (empty: it can)."""
        problems = []
        mine = self.config.base
        theirs = BaseAudienceLayout.of(data_lab.config)
        if theirs.identifiers_config != mine.identifiers_config:
            problems.append("its identifiers are not the room's (names, types, order, roles)")
        if theirs.has_segments != mine.has_segments:
            problems.append("segments: the room and the DataLab differ")
        if theirs.has_demographics != mine.has_demographics:
            problems.append("demographics: the room and the DataLab differ")
        if theirs.num_embeddings != mine.num_embeddings:
            problems.append("embeddings: the room and the DataLab differ")
        for collaboration in self.config.collaboration_types:
            if collaboration not in data_lab.config.collaboration_types:
                problems.append(f"the DataLab does not allow {collaboration.name}")
        return problems

    def provision_base_audience(
        self, data_lab_id: str, key: Key | Mapping[str, Key], *, force: bool = False
    ) -> None:
        """Publish a validated, compatible DataLab's datasets as this room's base audience.

        ``key`` is the key the DataLab's datasets were encrypted with, or ``{table: key}``
        (``matching``, ``segments`` …) when they were encrypted with different keys. The core
        checks each key, and reuses its validation of the DataLab's dataset (same dataset, same
        schema) while it keeps it in memory. ``force`` replaces a base audience already
        provisioned.
        """
        self._require(Permission.PROVIDE_BASE_AUDIENCE)
        data_lab = DataLabBuilder(self.client).from_existing(data_lab_id).build()
        problems = self.check_data_lab_compatibility(data_lab)
        if problems:
            raise DefinitionError(f"DataLab {data_lab_id} is not compatible: {'; '.join(problems)}")
        theirs = {d["node"]: d for d in data_lab.dcr.retrieve_published_datasets()}
        missing = [d.node for d in data_lab.config.datasets if d.node not in theirs]
        if missing or data_lab.get_validation_status()["status"] != "SUCCESS":
            raise ConflictError(
                f"DataLab {data_lab_id} is not validated: provision and validate it first",
                code="data_lab_not_validated",
            )
        if self.is_base_audience_provisioned() and not force:
            raise ConflictError(
                "a base audience is already provisioned: pass force=True to replace it",
                code="already_provisioned",
            )
        for node in layout.BASE_TABLES:
            if node not in theirs or self.dcr.definition.node(node) is None:
                continue
            node_key = key if isinstance(key, Key) else key.get(node)
            if node_key is None:
                raise DefinitionError(f"no key given for the DataLab's {node} dataset")
            published = self.dcr.session.publish_dataset(
                self.id, theirs[node]["dataset_id"], node, node_key, force=True
            )
            outcome = (published.get("report") or {}).get("report", {}).get("outcome")
            if published.get("published") is False or outcome == "FAILED":
                raise ConflictError(
                    f"the core refused the DataLab's {node} dataset for this room",
                    code="validation_failed",
                )

    def deprovision_base_audience(self) -> None:
        self._require(Permission.PROVIDE_BASE_AUDIENCE)
        published = self._published()
        for node in layout.BASE_TABLES:
            if node in published:
                self.dcr.session.remove_published_dataset(self.id, node)

    def is_base_audience_provisioned(self) -> bool:
        return "matching" in self._published()

    # -- seed audiences (advertiser) --------------------------------------------------------
    def provision_seed_audiences(self, manifest_hash: str, key: Key) -> dict[str, Any]:
        """Publish an uploaded dataset (``matching_id, audience_type`` rows) as the seed
        audiences; returns the core's validation report."""
        self._require(Permission.PROVIDE_SEED_AUDIENCE)
        published = self.dcr.session.publish_dataset(
            self.id, manifest_hash, layout.SEED_TABLE, key, force=True
        )
        report: dict[str, Any] = published.get("report") or {}
        return report

    def upload_seed_audiences(self, data: Any, key: Key, name: str = "seed audiences") -> str:
        """Encrypt, upload and publish a seed audiences file (a path or a binary stream);
        returns the dataset id."""
        self._require(Permission.PROVIDE_SEED_AUDIENCE)
        if isinstance(data, str | Path):
            with Path(data).open("rb") as stream:
                manifest_hash = self.client.upload_dataset(stream, key, name)
        else:
            manifest_hash = self.client.upload_dataset(data, key, name)
        self.provision_seed_audiences(manifest_hash, key)
        return manifest_hash

    def deprovision_seed_audiences(self) -> None:
        self._require(Permission.PROVIDE_SEED_AUDIENCE)
        if layout.SEED_TABLE in self._published():
            self.dcr.session.remove_published_dataset(self.id, layout.SEED_TABLE)

    def are_seed_audiences_provisioned(self) -> bool:
        return layout.SEED_TABLE in self._published()

    # -- jobs ---------------------------------------------------------------------------------
    def _sql_job(self, node: str, parse: Callable[[bytes], Any]) -> ComputeJob:
        if self.dcr.definition.node(node) is None:
            raise DefinitionError(
                f"this media room has no {node} computation"
                + (" (differential-privacy mode)" if self.config.privacy.is_dp else "")
            )
        job = ComputeJob(self.dcr, node, f"{node}.json", parse)
        job.run()
        return job

    def _engine_job(self, node: str, audience: Any, file_name: str) -> ComputeJob:
        ref = audience.definition if isinstance(audience, AudienceDraft) else reference_of(audience)
        parameters = {"audience": json.dumps(ref, sort_keys=True)}
        job = ComputeJob(
            self.dcr,
            node,
            file_name,
            lambda data: parse_zip_json(data, file_name),
            parameters=parameters,
            result_format="zip",
        )
        job.run()
        return job

    def _rows_job(self, node: str, parse: Callable[[list[tuple[Any, ...]]], Any]) -> ComputeJob:
        """A computation that releases rows: the core's SQL, or in DP mode the audience
        engine's noisy rows of the same columns (``<node>.json``)."""
        engine = layout.engine_operation(self.config, node) is not None
        # A DP room made before overlap and insights were noised has neither: refused there.
        if not engine or self.dcr.definition.node(node) is None:
            return self._sql_job(node, lambda data: parse(arrow_rows(data)))
        file_name = f"{node}.json"
        job = ComputeJob(
            self.dcr,
            node,
            file_name,
            lambda data: parse(engine_rows(parse_zip_json(data, file_name))),
            result_format="zip",
        )
        job.run()
        return job

    def get_overlap_statistics(self) -> ComputeJob:
        """Per seed audience type: its size, its overlap with the base audience and the
        overlap's activation ids (in DP mode: noisy counts, charged to the room's budget)."""
        self._require(Permission.VIEW_OVERLAP)
        show = self.config.show_match_rate
        return self._rows_job(layout.OVERLAP, lambda rows: parse_overlap(rows, show))

    def get_insights(self) -> ComputeJob:
        """Per seed audience type whose overlap is released: each attribute value's share of
        the overlap and of the base (in DP mode: noisy counts, charged to the room's budget)."""
        self._require(Permission.VIEW_INSIGHTS)
        self._require_collaboration(CollaborationType.INSIGHTS)
        hide = self.config.hide_absolute_values
        return self._rows_job(layout.INSIGHTS, lambda rows: parse_insights(rows, hide))

    def get_data_attributes(self) -> ComputeJob:
        self._require(Permission.VIEW_INSIGHTS, Permission.CREATE_CUSTOM_AUDIENCE)
        return self._sql_job(layout.DATA_ATTRIBUTES, lambda d: parse_data_attributes(arrow_rows(d)))

    def get_audience_size(self, audience: Any) -> ComputeJob:
        self._require(*layout.ANALYSTS[layout.AUDIENCE_SIZE])
        return self._engine_job(layout.AUDIENCE_SIZE, audience, "audience_size.json")

    def set_activation_id(self, activation_id: str) -> None:
        """The activation column :meth:`get_audience_user_list` exports from now on (one of the
        room's activation identifiers, all agreed when the room was created; default: the
        first)."""
        if activation_id not in self.config.activation_columns:
            raise DefinitionError(
                f"{activation_id!r} is not an activation identifier of media room {self.id} "
                f"(it has: {', '.join(self.config.activation_columns) or 'none'})"
            )
        self._activation_id = activation_id

    def get_audience_user_list(self, audience: Any, activation_id: str | None = None) -> ComputeJob:
        """Activation ids of the audience's users (needs EXPORT_AUDIENCE), in ``activation_id``
        (default: :meth:`set_activation_id`'s, else the room's first); refused by the core for
        an audience below the minimum audience size."""
        self._require(Permission.EXPORT_AUDIENCE)
        column = activation_id or self._activation_id
        if column is not None and column not in self.config.activation_columns:
            raise DefinitionError(
                f"{column!r} is not an activation identifier of media room {self.id}"
            )
        file_name = "audience_users.csv"
        ref = audience.definition if isinstance(audience, AudienceDraft) else reference_of(audience)
        job = ComputeJob(
            self.dcr,
            layout.USER_LIST,
            file_name,
            lambda data: parse_zip_lines(data, file_name),
            parameters={"audience": json.dumps(ref, sort_keys=True), "activation_id": column or ""},
            result_format="zip",
        )
        job.run()
        return job

    def get_lookalike_audience_statistics(self, audience: Any) -> ComputeJob:
        self._require(*layout.ANALYSTS[layout.LOOKALIKE])
        self._require_collaboration(CollaborationType.LOOKALIKE)
        return self._engine_job(layout.LOOKALIKE, audience, "lookalike_audience.json")

    def get_base_audience_validation_reports(self) -> ValidationReports:
        published = self._published()

        def report(node: str) -> dict[str, Any] | None:
            if node not in published:
                return None
            return self.dcr.session.get_validation_report(self.id, node)

        matching = report("matching")
        if matching is None:
            raise ConflictError("no base audience is provisioned", code="input_missing")
        return ValidationReports(
            identifiers=matching,
            segments=report("segments"),
            demographics=report("demographics"),
            embeddings=report("embeddings"),
        )

    def get_seed_audiences_validation_report(self) -> dict[str, Any]:
        return self.dcr.session.get_validation_report(self.id, layout.SEED_TABLE)

    # -- audiences ----------------------------------------------------------------------------
    def _seed_audiences(self) -> list[SeedAudience]:
        if layout.SEED_TABLE not in self._published():
            return []
        job = self._sql_job(layout.SEED_LIST, arrow_rows)
        rows = job.wait_for_completion().result()
        return [SeedAudience(str(t), None if n is None else int(n)) for t, n in rows]

    def _custom_audiences(self, dataset_id: str | None = None) -> list[CustomAudience]:
        """The definitions; ``dataset_id`` "" when the caller knows none is published."""
        if dataset_id is None:
            published = self._published().get(layout.CUSTOM_TABLE)
            dataset_id = published["dataset_id"] if published else ""
        if not dataset_id:
            return []
        rows = self._sql_job(layout.CUSTOM_LIST, arrow_rows).wait_for_completion().result()
        return [CustomAudience.from_row(row) for row in rows]

    def get_audiences(self) -> Audiences:
        """The seed audiences and the custom audiences your group created or that were shared
        with it. Every participant can read every definition (they are not personal data);
        sharing says which groups an audience is meant for, it is not a secret."""
        group = self._group()
        custom = [
            a
            for a in self._custom_audiences()
            if a.created_by_group == group.id
            or group.id in a.shared_with
            or group.role in a.shared_with
        ]
        return Audiences(self._seed_audiences(), custom)

    def _change_custom(
        self, change: Callable[[list[CustomAudience]], list[CustomAudience]]
    ) -> None:
        """Read the definitions, apply ``change`` (which raises to refuse), and publish the
        result on condition that nobody published other definitions in between (the core checks
        it, under the room's lock); if someone did, read theirs and apply ``change`` again. No
        participant's change is lost to another's."""
        for _ in range(CUSTOM_RETRIES):
            # The dataset id first: the definitions read next are that dataset or a later one,
            # and a later one makes the condition fail.
            published = self._published().get(layout.CUSTOM_TABLE)
            read = published["dataset_id"] if published else ""
            try:
                self._write_custom(change(self._custom_audiences(read)), replaces=read)
                return
            except ConflictError as error:
                if error.code != "dataset_changed":
                    raise
        raise ConflictError(
            f"the audience definitions changed {CUSTOM_RETRIES} times while this change was "
            "being made: try again",
            code="dataset_changed",
        )

    def _write_custom(self, audiences: Sequence[CustomAudience], *, replaces: str) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for audience in audiences:
            writer.writerow(audience.to_row())
        # A fresh key: the definitions are re-encrypted at every change, and nobody needs the
        # key again (the core holds it, sealed, for this room only).
        key = Key()
        dataset_id = self.dcr.client.upload_dataset(
            io.BytesIO(out.getvalue().encode()), key, "custom audiences"
        )
        answer = self.dcr.session.publish_dataset(
            self.id, dataset_id, layout.CUSTOM_TABLE, key, replaces=replaces
        )
        if answer.get("validation") == "FAILED":
            raise DatasetRejectedError(
                "the core refused the new audience definitions (their validation failed); "
                "nothing changed",
                stage="core",
                report=answer.get("report"),
                dataset_id=dataset_id,
            )

    def _create(self, draft: AudienceDraft) -> CustomAudience:
        self._require(Permission.CREATE_CUSTOM_AUDIENCE)
        self._require_collaboration(DEFINITION_KINDS[draft.definition["kind"]])
        group = self._group()
        audience = CustomAudience(
            id=secrets.token_hex(8),
            name=draft.name,
            created_by=self._me,
            # Milliseconds: audiences are listed by creation time, and several are often
            # made within one second.
            created_at=created_at_now(),
            shared_with=list(draft.share_with),
            definition=draft.definition,
            created_by_group=group.id,
        )

        def add(existing: list[CustomAudience]) -> list[CustomAudience]:
            known = {a.id for a in existing}
            for ref in audience.depends_on():
                if ref not in known:
                    raise DefinitionError(
                        f"the audience refers to an unknown custom audience {ref}"
                    )
            if any(a.name == draft.name for a in existing):
                raise ConflictError(f"an audience named {draft.name!r} exists", code="duplicate")
            return [*existing, audience]

        self._change_custom(add)
        return audience

    def create_lookalike_audience(self, draft: AudienceDraft) -> CustomAudience:
        return self._create(draft)

    def create_rule_based_audience(self, draft: AudienceDraft) -> CustomAudience:
        return self._create(draft)

    def create_remarketing_audience(self, draft: AudienceDraft) -> CustomAudience:
        return self._create(draft)

    def create_exclusion_targeting_audience(self, draft: AudienceDraft) -> CustomAudience:
        return self._create(draft)

    def share_audiences(self, audiences: Sequence[CustomAudience], participants: list[str]) -> None:
        """Share ``audiences`` (created by your group) with the groups ``participants`` (ids or
        roles)."""
        self._require(Permission.CREATE_CUSTOM_AUDIENCE)
        group = self._group()
        ids = {a.id for a in audiences}

        def share(current: list[CustomAudience]) -> list[CustomAudience]:
            updated = []
            for audience in current:
                if audience.id in ids:
                    if audience.created_by_group != group.id:
                        raise PermissionDeniedError(
                            f"audience {audience.name!r} was created by another group",
                            code="permission_denied",
                        )
                    shared = list(dict.fromkeys([*audience.shared_with, *participants]))
                    audience = CustomAudience(**{**audience.__dict__, "shared_with": shared})
                updated.append(audience)
            return updated

        self._change_custom(share)

    def delete_audiences(
        self, audiences: Sequence[CustomAudience], *, delete_dependent_audiences: bool = False
    ) -> None:
        """Delete ``audiences`` (created by your group). One that others depend on is kept
        unless ``delete_dependent_audiences``, which deletes those too."""
        self._require(Permission.CREATE_CUSTOM_AUDIENCE)
        group = self._group()

        def delete(current: list[CustomAudience]) -> list[CustomAudience]:
            doomed = {a.id for a in audiences}
            for audience in current:
                if audience.id in doomed and audience.created_by_group != group.id:
                    raise PermissionDeniedError(
                        f"audience {audience.name!r} was created by another group",
                        code="permission_denied",
                    )
            changed = True
            while changed:
                changed = False
                for audience in current:
                    if audience.id not in doomed and doomed & set(audience.depends_on()):
                        if not delete_dependent_audiences:
                            raise ConflictError(
                                f"audience {audience.name!r} depends on one you delete: pass "
                                "delete_dependent_audiences=True to delete it too",
                                code="has_dependents",
                            )
                        if audience.created_by_group != group.id:
                            # Another group's audience is theirs to delete, not a side effect.
                            raise ConflictError(
                                f"audience {audience.name!r} of another group depends on one "
                                "you delete: they must delete it first",
                                code="has_dependents",
                            )
                        doomed.add(audience.id)
                        changed = True
            return [a for a in current if a.id not in doomed]

        self._change_custom(delete)

    def __repr__(self) -> str:
        return f"MediaDcr(id={self.id!r}, name={self.config.name!r})"
