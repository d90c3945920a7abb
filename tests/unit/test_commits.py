"""Commits of interactive rooms: what a request may add, who approves it, history pins."""

from __future__ import annotations

import json

import pytest

from sealroom.compute.sql.parameters import MAX_PARAMETERS as SQL_MAX_PARAMETERS
from sealroom.crypto.canonical import sha256_hex
from sealroom.errors import DefinitionError, PermissionDeniedError
from sealroom.model.columns import Column, FormatType
from sealroom.model.commits import (
    AnalystGrant,
    Commit,
    OwnerGrant,
    Withdrawal,
    affected_data_nodes,
    apply_commit,
    apply_commits,
    approval_message,
    approver_groups,
    history_pins,
    initial_history_pin,
    next_history_pin,
    parse_commit,
)
from sealroom.model.definition import (
    MAX_PARAMETERS,
    Participant,
    PreviewNode,
    PythonNode,
    RoomDefinition,
    SqlNode,
    TableNode,
)
from sealroom.model.development import development_definition
from sealroom.model.identities import Identity

BANK = "alice@bank.example"
INSURER = "bob@insurer.example"
ANALYST = "carol@analytics.example"
#: The analyst's key fingerprint: a participant new to the room comes with one.
ANALYST_KEY = "c0" * 32


def _table(name: str) -> TableNode:
    return TableNode(name=name, columns=(Column(name="id", format_type=FormatType.INTEGER),))


def _room() -> RoomDefinition:
    return RoomDefinition(
        name="r",
        owner=BANK,
        interactive=True,
        nodes=(
            _table("customers"),
            _table("policies"),
            _table("unowned"),
            SqlNode(name="bank_ids", query="SELECT id FROM customers", dependencies=("customers",)),
        ),
        participants=(
            Participant(email=BANK, data_owner_of=("customers",), analyst_of=("bank_ids",)),
            Participant(email=INSURER, data_owner_of=("policies",)),
        ),
    )


def _commit(room: RoomDefinition, **fields: object) -> Commit:
    return Commit(
        room_id=room.room_id,
        history_pin=initial_history_pin(room.room_id),
        requester=ANALYST,
        **fields,  # type: ignore[arg-type]
    )


def test_commit_id_is_the_hash_of_its_canonical_json() -> None:
    room = _room()
    commit = _commit(room, note="n")
    assert commit.commit_id == sha256_hex(commit.canonical_bytes())
    assert parse_commit(commit.model_dump(mode="json")) == commit
    assert _commit(room, note="m").commit_id != commit.commit_id


def test_history_pins_chain_every_commit_in_order() -> None:
    room_id = "ab" * 32
    a, b = "01" * 32, "02" * 32
    pins = history_pins(room_id, [a, b])
    assert pins[0] == initial_history_pin(room_id)
    assert pins[2] == next_history_pin(next_history_pin(pins[0], a), b)
    assert history_pins(room_id, [b, a])[2] != pins[2]
    assert initial_history_pin("cd" * 32) != pins[0]


def test_apply_adds_computations_and_analysts() -> None:
    room = _room()
    overlap = SqlNode(
        name="overlap",
        query="SELECT COUNT(*) FROM bank_ids JOIN policies USING (id)",
        dependencies=("bank_ids", "policies"),
    )
    commit = _commit(
        room,
        nodes=(overlap,),
        analysts=(
            AnalystGrant(email=ANALYST, key=ANALYST_KEY, analyst_of=("overlap",)),
            AnalystGrant(email=BANK, analyst_of=("overlap",)),
        ),
    )
    applied = apply_commit(room, commit)
    assert applied.node("overlap") == overlap
    assert applied.participant(ANALYST).analyst_of == ("overlap",)  # type: ignore[union-attr]
    assert applied.identity(ANALYST) == Identity(email=ANALYST, key=ANALYST_KEY)
    assert applied.identity(BANK) is None  # an existing participant keeps theirs (none here)
    assert applied.participant(BANK).analyst_of == ("bank_ids", "overlap")  # type: ignore[union-attr]
    assert applied.participant(BANK).data_owner_of == ("customers",)  # type: ignore[union-attr]
    # The room is still the same room: its settings and salt do not change.
    assert (applied.salt, applied.name, applied.interactive) == (room.salt, room.name, True)
    assert apply_commits(room, [commit]) == applied


def test_approvers_are_the_owners_of_every_data_node_read_even_through_computations() -> None:
    room = _room()
    overlap = SqlNode(
        name="overlap",
        query="SELECT COUNT(*) FROM bank_ids JOIN policies USING (id)",
        dependencies=("bank_ids", "policies"),
    )
    commit = _commit(room, nodes=(overlap,))
    applied = apply_commit(room, commit)
    assert affected_data_nodes(applied, commit) == ["customers", "policies"]
    groups = approver_groups(applied, commit)
    assert [(g.node, g.approvers) for g in groups] == [
        ("customers", (BANK,)),
        ("policies", (INSURER,)),
    ]


def test_a_node_nobody_owns_needs_no_approval_and_analyst_grants_count() -> None:
    room = _room()
    unowned = SqlNode(name="u", query="SELECT * FROM unowned", dependencies=("unowned",))
    commit = _commit(room, nodes=(unowned,))
    assert approver_groups(apply_commit(room, commit), commit) == []
    # Opening an existing computation to a new analyst needs its owners' approval too.
    grant = _commit(
        room, analysts=(AnalystGrant(email=ANALYST, key=ANALYST_KEY, analyst_of=("bank_ids",)),)
    )
    groups = approver_groups(apply_commit(room, grant), grant)
    assert [(g.node, g.approvers) for g in groups] == [("customers", (BANK,))]


def test_a_preview_node_is_approved_by_the_owners_of_what_it_relays() -> None:
    room = _room()
    preview = PreviewNode(name="peek", dependency="bank_ids", quota_bytes=100)
    commit = _commit(room, nodes=(preview,))
    assert affected_data_nodes(apply_commit(room, commit), commit) == ["customers"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nodes": (_table("mine"),)}, "only add computations"),
        (
            {"nodes": (SqlNode(name="BANK_IDS", query="SELECT 1"),)},
            "never change an existing node",
        ),
        ({}, "adds nothing"),
        (
            {
                "analysts": (
                    AnalystGrant(email=ANALYST, key=ANALYST_KEY, analyst_of=("customers",)),
                )
            },
            "data node",
        ),
        (
            {"analysts": (AnalystGrant(email=ANALYST, key=ANALYST_KEY, analyst_of=("missing",)),)},
            "unknown node",
        ),
        (
            {"nodes": (SqlNode(name="x", query="SELECT 1", dependencies=("nope",)),)},
            "unknown node",
        ),
    ],
)
def test_what_a_commit_may_not_do(fields: dict[str, object], message: str) -> None:
    room = _room()
    with pytest.raises(DefinitionError, match=message):
        apply_commit(room, _commit(room, **fields))


def test_an_analyst_grant_never_carries_data_ownership_or_permissions() -> None:
    room = _room()
    data = _commit(room, note="x").model_dump(mode="json")
    data["analysts"] = [{"email": ANALYST, "analyst_of": ["bank_ids"], "data_owner_of": ["x"]}]
    with pytest.raises(DefinitionError, match="never grant data_owner_of"):
        parse_commit(data)
    data["analysts"] = [{"email": ANALYST, "analyst_of": ["bank_ids"], "permissions": []}]
    with pytest.raises(DefinitionError, match="never grant permissions"):
        parse_commit(data)


def test_approval_messages_bind_room_commit_pin_and_approver() -> None:
    base = approval_message("a" * 64, "b" * 64, "c" * 64, BANK)
    assert base == approval_message("a" * 64, "b" * 64, "c" * 64, BANK.upper())
    for other in (
        approval_message("d" * 64, "b" * 64, "c" * 64, BANK),
        approval_message("a" * 64, "d" * 64, "c" * 64, BANK),
        approval_message("a" * 64, "b" * 64, "d" * 64, BANK),
        approval_message("a" * 64, "b" * 64, "c" * 64, INSURER),
    ):
        assert other != base


def test_development_reads_only_owned_data_and_retrievable_results() -> None:
    room = _room()
    own = {
        "kind": "sql",
        "name": "d",
        "query": "SELECT * FROM customers",
        "dependencies": ["customers"],
    }
    applied, node = development_definition(room, BANK, own)
    assert applied.node("d") == node
    via = {
        "kind": "sql",
        "name": "d",
        "query": "SELECT * FROM bank_ids",
        "dependencies": ["bank_ids"],
    }
    development_definition(room, BANK, via)
    with pytest.raises(PermissionDeniedError, match="'policies'"):
        development_definition(
            room, BANK, {**own, "query": "SELECT * FROM policies", "dependencies": ["policies"]}
        )
    with pytest.raises(PermissionDeniedError, match="'bank_ids'"):
        development_definition(room, INSURER, via)
    with pytest.raises(DefinitionError, match="not raw"):
        development_definition(room, BANK, {"kind": "raw", "name": "t"})
    with pytest.raises(DefinitionError, match="duplicate node name"):
        development_definition(room, BANK, {**own, "name": "bank_ids"})
    script = PythonNode(name="p", script="print(1)", dependencies=("customers",))
    assert development_definition(room, BANK, script)[1] == script


def test_parameter_bounds_agree() -> None:
    assert MAX_PARAMETERS == SQL_MAX_PARAMETERS


def test_verify_history_accepts_only_the_signed_chain_in_order() -> None:
    from sealroom.crypto import SigningKey
    from sealroom.errors import VerificationError
    from sealroom.model.commits import commit_record_message, verify_history

    room = _room()
    key = SigningKey.generate()
    pins = [initial_history_pin(room.room_id)]
    raws, signatures = [], []
    for note in ("first", "second"):
        commit = Commit(
            room_id=room.room_id,
            history_pin=pins[-1],
            requester=ANALYST,
            note=note,
            analysts=(AnalystGrant(email=ANALYST, key=ANALYST_KEY, analyst_of=("bank_ids",)),),
        )
        pins.append(next_history_pin(pins[-1], commit.commit_id))
        raws.append(commit.canonical_bytes())
        signatures.append(
            key.sign(commit_record_message(room.room_id, len(raws), raws[-1], pins[-1]))
        )
    commits, verified = verify_history(room.room_id, raws, signatures, key.verify_key)
    assert [c.note for c in commits] == ["first", "second"]
    assert verified == pins
    with pytest.raises(VerificationError, match="commit 1 was altered"):
        verify_history(room.room_id, raws[::-1], signatures[::-1], key.verify_key)
    with pytest.raises(VerificationError, match="stored commit 2 was altered"):
        verify_history(
            room.room_id,
            [raws[0], raws[1].replace(b"second", b"secont")],
            signatures,
            key.verify_key,
            what="stored commit",
        )
    with pytest.raises(VerificationError, match="commit 1 was altered"):
        verify_history(room.room_id, raws, signatures, SigningKey.generate().verify_key)
    with pytest.raises(VerificationError, match="commit 1 was altered"):
        verify_history("ef" * 32, raws, signatures, key.verify_key)


def test_a_new_analyst_comes_with_an_identity_and_an_existing_one_keeps_theirs() -> None:
    room = _room()
    with pytest.raises(DefinitionError, match="a new participant comes with a pinned key"):
        apply_commit(
            room, _commit(room, analysts=(AnalystGrant(email=ANALYST, analyst_of=("bank_ids",)),))
        )
    grant = AnalystGrant(email=BANK, analyst_of=("bank_ids",), key=ANALYST_KEY)
    with pytest.raises(DefinitionError, match="cannot change how the room recognises them"):
        apply_commit(room, _commit(room, analysts=(grant,)))
    unknown_root = AnalystGrant(email=ANALYST, analyst_of=("bank_ids",), root="nowhere")
    with pytest.raises(DefinitionError, match="trust root 'nowhere'"):
        apply_commit(room, _commit(room, analysts=(unknown_root,)))
    with pytest.raises(DefinitionError, match="never grant permissions"):
        parse_commit(
            {
                **_commit(room).model_dump(mode="json"),
                "analysts": [
                    {
                        "email": ANALYST,
                        "analyst_of": ["bank_ids"],
                        "key": ANALYST_KEY,
                        "permissions": [],
                    }
                ],
            }
        )


# -- a lost or rotated key -----------------------------------------------------------------------
NEW_KEY = "d0" * 32


def _pinned_room() -> RoomDefinition:
    room = _room()
    return room.model_copy(
        update={
            "identities": (
                Identity(email=BANK, key="b0" * 32),
                Identity(email=INSURER, key="10" * 32),
            )
        }
    )


def _rotation(room: RoomDefinition, email: str, requester: str = ANALYST) -> Commit:
    return Commit(
        room_id=room.room_id,
        history_pin=initial_history_pin(room.room_id),
        requester=requester,
        identities=(Identity(email=email, key=NEW_KEY),),
    )


def test_a_request_replaces_how_the_room_recognises_a_participant() -> None:
    room = _pinned_room()
    applied = apply_commit(room, _rotation(room, INSURER))
    assert applied.identity(INSURER) == Identity(email=INSURER, key=NEW_KEY)
    assert applied.identity(BANK) == room.identity(BANK)
    assert applied.participants == room.participants


def test_every_data_node_is_approved_by_an_owner_other_than_the_one_rebound() -> None:
    room = _pinned_room()
    groups = approver_groups(apply_commit(room, _rotation(room, INSURER)), _rotation(room, INSURER))
    # "policies" is the insurer's alone: the room's owner approves for it; "unowned" has none.
    assert [(g.node, g.approvers) for g in groups] == [
        ("customers", (BANK,)),
        ("policies", (BANK,)),
    ]


def test_a_rotation_nobody_else_can_approve_is_refused() -> None:
    room = _pinned_room()
    with pytest.raises(DefinitionError, match="nobody else could approve"):
        apply_commit(room, _rotation(room, BANK, requester=INSURER))  # the owner owns customers


def test_a_request_cannot_rebind_its_requester_or_a_stranger() -> None:
    room = _pinned_room()
    with pytest.raises(DefinitionError, match="its own requester"):
        apply_commit(room, _rotation(room, INSURER, requester=INSURER))
    with pytest.raises(DefinitionError, match="is not a participant"):
        apply_commit(room, _rotation(room, ANALYST, requester=BANK))
    same = Commit(
        room_id=room.room_id,
        history_pin=initial_history_pin(room.room_id),
        requester=ANALYST,
        identities=(Identity(email=INSURER, key="10" * 32),),
    )
    with pytest.raises(DefinitionError, match="already recognises"):
        apply_commit(room, same)
    elsewhere = Commit(
        room_id=room.room_id,
        history_pin=initial_history_pin(room.room_id),
        requester=ANALYST,
        identities=(Identity(email=INSURER, root="nowhere"),),
    )
    with pytest.raises(DefinitionError, match="trust root 'nowhere'"):
        apply_commit(room, elsewhere)


# -- people come and go: data owners added, roles withdrawn ---------------------------------------
NEW = "dave@bank.example"
NEW_KEY = "d0" * 32


def test_commits_made_before_owners_and_withdrawals_keep_their_ids() -> None:
    room = _room()
    commit = _commit(room, analysts=(AnalystGrant(email=BANK, analyst_of=("bank_ids",)),))
    assert b'"owners"' not in commit.canonical_bytes()
    assert b'"withdrawals"' not in commit.canonical_bytes()
    withdrawing = _commit(room, withdrawals=(Withdrawal(email=BANK, analyst_of=("bank_ids",)),))
    assert b'"withdrawals":[{' in withdrawing.canonical_bytes()
    assert parse_commit(json.loads(withdrawing.canonical_bytes())) == withdrawing


def test_a_new_data_owner_is_approved_by_the_nodes_current_owners_never_by_themselves() -> None:
    room = _room()
    commit = _commit(
        room,
        owners=(OwnerGrant(email=NEW, key=NEW_KEY, data_owner_of=("customers",)),),
        analysts=(AnalystGrant(email=NEW, analyst_of=("bank_ids",)),),
    )
    # A new participant is recognised once, by the first grant naming them (analysts first).
    with pytest.raises(DefinitionError, match="comes with a pinned key"):
        apply_commit(room, commit)
    commit = _commit(
        room,
        analysts=(AnalystGrant(email=NEW, key=NEW_KEY, analyst_of=("bank_ids",)),),
        owners=(OwnerGrant(email=NEW, data_owner_of=("customers",)),),
    )
    applied = apply_commit(room, commit)
    assert applied.participant(NEW).data_owner_of == ("customers",)  # type: ignore[union-attr]
    assert applied.identity(NEW) == Identity(email=NEW, key=NEW_KEY)
    groups = approver_groups(applied, commit)
    assert [(g.node, g.approvers) for g in groups] == [("customers", (BANK,))]


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        (OwnerGrant(email=NEW, key=NEW_KEY, data_owner_of=("unowned",)), "no owner to approve"),
        (OwnerGrant(email=NEW, key=NEW_KEY, data_owner_of=("bank_ids",)), "a computation"),
        (OwnerGrant(email=NEW, key=NEW_KEY, data_owner_of=("nope",)), "no such node"),
        (OwnerGrant(email=NEW, data_owner_of=("customers",)), "comes with a pinned key"),
        (
            OwnerGrant(email=INSURER, key=NEW_KEY, data_owner_of=("customers",)),
            "already a participant",
        ),
    ],
)
def test_what_an_owner_grant_may_not_do(grant: OwnerGrant, message: str) -> None:
    room = _room()
    with pytest.raises(DefinitionError, match=message):
        apply_commit(room, _commit(room, owners=(grant,)))


def test_an_owner_grant_never_carries_analyst_roles_or_permissions() -> None:
    room = _room()
    data = _commit(room, note="x").model_dump(mode="json")
    data["owners"] = [{"email": NEW, "data_owner_of": ["customers"], "permissions": []}]
    with pytest.raises(DefinitionError, match="never grant permissions"):
        parse_commit(data)
    data["owners"] = []
    data["withdrawals"] = [{"email": BANK, "analyst_of": ["bank_ids"], "key": NEW_KEY}]
    with pytest.raises(DefinitionError, match="never grant key"):
        parse_commit(data)


def test_withdrawing_an_analyst_is_approved_by_the_owners_of_the_data_it_reads() -> None:
    room = _room()
    room = apply_commit(
        room,
        _commit(room, analysts=(AnalystGrant(email=INSURER, analyst_of=("bank_ids",)),)),
    )
    commit = _commit(room, withdrawals=(Withdrawal(email=INSURER, analyst_of=("bank_ids",)),))
    applied = apply_commit(room, commit)
    assert applied.participant(INSURER).analyst_of == ()  # type: ignore[union-attr]
    assert applied.participant(INSURER).data_owner_of == ("policies",)  # type: ignore[union-attr]
    assert affected_data_nodes(applied, commit) == ["customers"]
    assert [(g.node, g.approvers) for g in approver_groups(applied, commit)] == [
        ("customers", (BANK,))
    ]


def test_a_participant_left_with_no_role_leaves_the_room_and_is_no_longer_recognised() -> None:
    room = _room()
    room = apply_commit(
        room,
        _commit(
            room,
            analysts=(AnalystGrant(email=NEW, key=NEW_KEY, analyst_of=("bank_ids",)),),
            owners=(OwnerGrant(email=NEW, data_owner_of=("customers",)),),
        ),
    )
    commit = _commit(
        room,
        withdrawals=(
            Withdrawal(email=NEW, analyst_of=("bank_ids",), data_owner_of=("customers",)),
        ),
    )
    applied = apply_commit(room, commit)
    assert not applied.is_participant(NEW)
    assert applied.identity(NEW) is None
    # The node's remaining owner approves; the one leaving is not asked.
    assert [(g.node, g.approvers) for g in approver_groups(applied, commit)] == [
        ("customers", (BANK,))
    ]
    # Back later only as a new participant: with a key again.
    with pytest.raises(DefinitionError, match="comes with a pinned key"):
        apply_commit(
            applied, _commit(applied, analysts=(AnalystGrant(email=NEW, analyst_of=("bank_ids",)),))
        )


def test_the_room_owner_stays_a_participant_when_their_roles_are_withdrawn() -> None:
    room = _room()
    room = apply_commit(
        room, _commit(room, owners=(OwnerGrant(email=INSURER, data_owner_of=("customers",)),))
    )
    applied = apply_commit(
        room,
        _commit(
            room,
            withdrawals=(
                Withdrawal(email=BANK, analyst_of=("bank_ids",), data_owner_of=("customers",)),
            ),
        ),
    )
    assert applied.participant(BANK) is None
    assert applied.is_participant(BANK)


@pytest.mark.parametrize(
    ("withdrawals", "message"),
    [
        ((Withdrawal(email=BANK, data_owner_of=("customers",)),), "keep none of its owners"),
        ((Withdrawal(email=INSURER, analyst_of=("bank_ids",)),), "not an analyst of 'bank_ids'"),
        ((Withdrawal(email=ANALYST, analyst_of=("bank_ids",)),), "holds no role"),
        ((Withdrawal(email=BANK),), "names no role"),
        (
            (
                Withdrawal(email=BANK, analyst_of=("bank_ids",)),
                Withdrawal(email=BANK.upper(), analyst_of=("bank_ids",)),
            ),
            "one withdrawal",
        ),
    ],
)
def test_what_a_withdrawal_may_not_do(withdrawals: tuple[Withdrawal, ...], message: str) -> None:
    room = _room()
    with pytest.raises(DefinitionError, match=message):
        apply_commit(room, _commit(room, withdrawals=withdrawals))


def test_a_commit_cannot_hand_a_node_over_by_granting_and_withdrawing_at_once() -> None:
    room = _room()
    # The new owner would approve for the node alone: refused, its owner stays the approver.
    with pytest.raises(DefinitionError, match="keep none of its owners"):
        apply_commit(
            room,
            _commit(
                room,
                owners=(OwnerGrant(email=NEW, key=NEW_KEY, data_owner_of=("customers",)),),
                withdrawals=(Withdrawal(email=BANK, data_owner_of=("customers",)),),
            ),
        )
    with pytest.raises(DefinitionError, match="not both"):
        apply_commit(
            room,
            _commit(
                room,
                owners=(OwnerGrant(email=BANK, data_owner_of=("policies",)),),
                withdrawals=(Withdrawal(email=BANK, analyst_of=("bank_ids",)),),
            ),
        )


def test_withdrawing_from_a_computation_over_unowned_data_is_refused() -> None:
    room = _room()
    free = SqlNode(name="free", query="SELECT id FROM unowned", dependencies=("unowned",))
    room = apply_commit(
        room,
        _commit(
            room,
            nodes=(free,),
            analysts=(AnalystGrant(email=INSURER, analyst_of=("free",)),),
        ),
    )
    with pytest.raises(DefinitionError, match="nobody could approve"):
        apply_commit(
            room, _commit(room, withdrawals=(Withdrawal(email=INSURER, analyst_of=("free",)),))
        )
