"""Write ``tests/vectors/web/commits.json``: commits of an interactive room, what each does to
the room's participants and identities, and who approves it — by the core's rules.

Run by hand after a deliberate change of those rules (and say so in the commit)::

    .venv/bin/python tests/vectors/web/make_commit_vectors.py

The browser applies integrated commits to show a room's current definition
(``web/src/session.ts``, ``applyCommits``) and derives a pending request's approver groups to
check the host's (``web/src/requests.ts``, ``withCommit`` and ``approverGroups``): both must
agree with :func:`sealroom.model.commits.apply_commit` and :func:`approver_groups`. Each case is
a definition, a commit, and the participants, identities and approver groups that follow.

``tests/unit/test_commit_vectors.py`` checks Python still gives every answer;
``tests/integration/test_web_commit_vectors.py`` checks the browser does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealroom.model.columns import Column, FormatType
from sealroom.model.commits import (
    AnalystGrant,
    Commit,
    OwnerGrant,
    Withdrawal,
    apply_commit,
    approver_groups,
    initial_history_pin,
)
from sealroom.model.definition import Participant, RoomDefinition, SqlNode, TableNode
from sealroom.model.identities import Identity

PATH = Path(__file__).parent / "commits.json"

BANK = "alice@bank.example"
INSURER = "bob@insurer.example"
ANALYST = "carol@analytics.example"
COLLEAGUE = "Dave@Bank.example"
KEY = "c0" * 32


def _table(name: str) -> TableNode:
    return TableNode(name=name, columns=(Column(name="id", format_type=FormatType.INTEGER),))


def room() -> RoomDefinition:
    return RoomDefinition(
        name="vectors",
        salt="0" * 32,
        owner=BANK,
        interactive=True,
        nodes=(
            _table("customers"),
            _table("Policies"),
            SqlNode(name="bank_ids", query="SELECT id FROM customers", dependencies=("customers",)),
            SqlNode(
                name="overlap",
                query="SELECT COUNT(*) FROM bank_ids JOIN Policies USING (id)",
                dependencies=("bank_ids", "Policies"),
            ),
        ),
        participants=(
            Participant(email=BANK, data_owner_of=("customers",), analyst_of=("bank_ids",)),
            Participant(email=INSURER, data_owner_of=("Policies",)),
            Participant(email=ANALYST, analyst_of=("overlap",)),
        ),
        identities=(Identity(email=ANALYST, key=KEY),),
    )


def _commits(definition: RoomDefinition) -> list[tuple[str, Commit]]:
    def commit(**fields: Any) -> Commit:
        return Commit(
            room_id=definition.room_id,
            history_pin=initial_history_pin(definition.room_id),
            requester=BANK,
            **fields,
        )

    return [
        (
            "a computation and an analyst",
            commit(
                nodes=(
                    SqlNode(
                        name="regions",
                        query="SELECT COUNT(*) FROM bank_ids",
                        dependencies=("bank_ids",),
                    ),
                ),
                analysts=(AnalystGrant(email=INSURER, analyst_of=("regions", "overlap")),),
            ),
        ),
        (
            "a new colleague: analyst, then data owner",
            commit(
                analysts=(AnalystGrant(email=COLLEAGUE, analyst_of=("bank_ids",), key="d0" * 32),),
                owners=(OwnerGrant(email=COLLEAGUE, data_owner_of=("customers",)),),
            ),
        ),
        (
            "a new data owner only, by pinned key",
            commit(owners=(OwnerGrant(email=COLLEAGUE, data_owner_of=("Policies",), key=KEY),)),
        ),
        (
            "an analyst withdrawn, who leaves the room",
            commit(withdrawals=(Withdrawal(email=ANALYST, analyst_of=("overlap",)),)),
        ),
        (
            "the room owner withdrawn from a role, with a new owner in their place",
            commit(
                owners=(OwnerGrant(email=INSURER, data_owner_of=("customers",)),),
                withdrawals=(Withdrawal(email=BANK, analyst_of=("bank_ids",)),),
            ),
        ),
    ]


def build() -> dict[str, Any]:
    definition = room()
    cases = []
    for name, commit in _commits(definition):
        applied = apply_commit(definition, commit)
        cases.append(
            {
                "case": name,
                "commit": json.loads(commit.canonical_bytes()),
                "participants": [p.model_dump(mode="json") for p in applied.participants],
                "identities": [i.model_dump(mode="json") for i in applied.identities],
                "approver_groups": [
                    {"node": g.node, "approvers": list(g.approvers)}
                    for g in approver_groups(applied, commit)
                ],
            }
        )
    return {"definition": json.loads(definition.canonical_bytes()), "cases": cases}


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
