"""The DataLab's enums and configuration records (the seed SDK's names and values).

Invariant: every :class:`IdType` maps to exactly one column format (:data:`ID_FORMATS`), which the
core's validation checks on every value of that identifier column; nothing about an identifier
kind is checked only on the publisher's machine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sealroom.model.columns import FormatType


class IdType(enum.StrEnum):
    """The kind of an identifier column."""

    STRING = "STRING"
    EMAIL = "EMAIL"
    HASHED_EMAIL = "HASHED_EMAIL"
    PHONE_NUMBER = "PHONE_NUMBER"
    HASHED_PHONE_NUMBER = "HASHED_PHONE_NUMBER"
    MAID = "MAID"
    HASHED_MAID = "HASHED_MAID"
    UTIQ_MARTECH = "UTIQ_MARTECH"
    UTIQ_ADTECH = "UTIQ_ADTECH"
    FIRST_ID = "FIRST_ID"
    ID5 = "ID5"
    NET_ID = "NET_ID"
    ONE_ID = "ONE_ID"
    IPV4_ADDRESS = "IPV4_ADDRESS"


#: The column format the core validates each identifier kind with. The hashed kinds hold
#: SHA-256 hex digests (the publisher hashes before upload). The vendor tokens (Utiq, First-id,
#: ID5, netID, OneID) have no public fixed syntax, so they are checked as non-empty strings
#: (and for uniqueness), never guessed at: a stricter pattern would refuse real tokens.
ID_FORMATS: dict[IdType, FormatType] = {
    IdType.STRING: FormatType.STRING,
    IdType.EMAIL: FormatType.EMAIL,
    IdType.HASHED_EMAIL: FormatType.HASH_SHA256_HEX,
    IdType.PHONE_NUMBER: FormatType.PHONE_NUMBER_E164,
    IdType.HASHED_PHONE_NUMBER: FormatType.HASH_SHA256_HEX,
    IdType.MAID: FormatType.MAID,
    IdType.HASHED_MAID: FormatType.HASH_SHA256_HEX,
    IdType.UTIQ_MARTECH: FormatType.STRING,
    IdType.UTIQ_ADTECH: FormatType.STRING,
    IdType.FIRST_ID: FormatType.STRING,
    IdType.ID5: FormatType.STRING,
    IdType.NET_ID: FormatType.STRING,
    IdType.ONE_ID: FormatType.STRING,
    IdType.IPV4_ADDRESS: FormatType.IPV4_ADDRESS,
}


class DataLabDatasetType(enum.IntEnum):
    """The datasets of a DataLab (the seed's numbering)."""

    EMBEDDINGS = 1
    DEMOGRAPHICS = 2
    MATCH = 3
    SEGMENTS = 4

    @property
    def node(self) -> str:
        """The table node of the DataLab room that holds this dataset."""
        return _NODES[self]


_NODES = {
    DataLabDatasetType.EMBEDDINGS: "embeddings",
    DataLabDatasetType.DEMOGRAPHICS: "demographics",
    DataLabDatasetType.MATCH: "matching",
    DataLabDatasetType.SEGMENTS: "segments",
}


class MatchingId(enum.StrEnum):
    """The seed's legacy single matching id (``with_matching_id_format``); maps to an IdType."""

    STRING = "STRING"
    EMAIL = "EMAIL"
    HASHED_EMAIL = "HASHED_EMAIL"
    PHONE_NUMBER = "PHONE_NUMBER"
    HASHED_PHONE_NUMBER = "HASHED_PHONE_NUMBER"

    @property
    def id_type(self) -> IdType:
        return IdType(self.value)


class CollaborationType(enum.StrEnum):
    """What media rooms may do with a DataLab's audience (the seed's values)."""

    INSIGHTS = "ENABLE_INSIGHTS"
    LOOKALIKE = "ENABLE_LOOKALIKE_AUDIENCES"
    OVERLAP = "ENABLE_OVERLAP"
    REMARKETING = "ENABLE_REMARKETING"
    EXCLUSION_TARGETING = "ENABLE_EXCLUSION_TARGETING"
    RULE_BASED = "ENABLE_RULED_BASED_AUDIENCES"

    @property
    def wire(self) -> str:
        """The short name on the wire (``"INSIGHTS"``)."""
        return self.name


#: The seed's default collaboration types (OVERLAP is always added anyway).
DEFAULT_COLLABORATION_TYPES = (
    CollaborationType.INSIGHTS,
    CollaborationType.LOOKALIKE,
    CollaborationType.OVERLAP,
    CollaborationType.REMARKETING,
    CollaborationType.RULE_BASED,
)


@dataclass(frozen=True)
class IdentifiersConfig:
    """One column of the identifiers (``matching``) dataset, in file order."""

    id_name: str
    id_type: IdType
    is_matching_id: bool
    is_activation_id: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "idName": self.id_name,
            "idType": IdType(self.id_type).value,
            "isMatchingId": self.is_matching_id,
            "isActivationId": self.is_activation_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentifiersConfig:
        return cls(
            id_name=str(data["idName"]),
            id_type=IdType(data["idType"]),
            is_matching_id=bool(data["isMatchingId"]),
            is_activation_id=bool(data["isActivationId"]),
        )
