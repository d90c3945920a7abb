"""Room drafts for the web app: a JSON template made into the definition the browser publishes.

The browser cannot reproduce Python's canonical JSON for every value a definition holds (floats),
so the host does the bookkeeping the SDK does on the user's machine — parse the template, make
the user its owner, give every participant the platform PKI's identity (the seed's default
authentication) — and returns the canonical text and its hash. None of this is trusted: the
browser hashes the text itself, compares the parsed text with the template the user chose, and
signs ``publish_room`` over that hash; the core recomputes it from what it receives.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sealroom.errors import DefinitionError
from sealroom.model.definition import rebuild_definition
from sealroom.model.identities import PLATFORM_ROOT_NAME, TrustRoot, complete_identities
from sealroom.model.principal import normalise_email
from sealroom.model.template import export_template, parse_template
from sealroom.server.routes.deps import PlatformDep, UserDep

router = APIRouter(tags=["rooms"])


class DraftIn(BaseModel):
    template: str = Field(description="a room template (docs/room-definition.md), as text")
    replace_owner: bool = Field(
        default=False, description="make the caller the owner of a template naming somebody else"
    )


class DraftOut(BaseModel):
    definition: str = Field(description="the canonical definition: what is hashed and published")
    room_id: str = Field(description="SHA-256 of `definition`, hex (the browser recomputes it)")
    template: str = Field(description="the definition as a template (for export, duplicate)")


@router.post("/v1/room-drafts")
def make_draft(body: DraftIn, platform: PlatformDep, user: UserDep) -> DraftOut:
    """The definition a template publishes as, for the caller (nothing is stored)."""
    definition = parse_template(body.template, owner=user, replace_owner=body.replace_owner)
    if normalise_email(definition.owner) != normalise_email(user):
        raise DefinitionError(
            f"the template's owner is {definition.owner}, but you are {user}: you can only "
            'publish rooms you own. Set "owner" in the file to your e-mail, or choose "make me '
            'the owner"'
        )
    root = TrustRoot(name=PLATFORM_ROOT_NAME, certificate=platform.pki.root_pem, operator=True)
    roots, identities = complete_identities(
        definition.trust_roots, definition.identities, definition.participant_emails(), root
    )
    if identities != definition.identities:
        definition = rebuild_definition(
            definition, "the room definition", trust_roots=roots, identities=identities
        )
    return DraftOut(
        definition=definition.canonical_bytes().decode(),
        room_id=definition.room_id,
        template=export_template(definition),
    )
