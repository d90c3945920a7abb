"""Media clean rooms: a publisher's base audience (from a validated DataLab) and advertisers'
seed audiences, with overlap, insights, custom and lookalike audiences, and activation lists.

The seed SDK's names (``MediaDcr``, ``Participant``, ``Permission``, the audience builders …);
see ``docs/media.md``. Nodes and permissions: :mod:`sealroom.media.layout`.
"""

from __future__ import annotations

from sealroom.data_lab.types import CollaborationType, IdType
from sealroom.errors import AudienceRefusedError
from sealroom.media.audiences import (
    AudienceCombinator,
    AudienceCombinatorBuilder,
    AudienceDraft,
    AudienceFilters,
    AudienceReference,
    Audiences,
    CombineOperator,
    CustomAudience,
    ExclusionTargetingAudienceBuilder,
    Filter,
    FilterOperator,
    LookalikeAudienceBuilder,
    MatchOperator,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
    SeedAudience,
)
from sealroom.media.media_dcr import DcrConfiguration, MediaDcr
from sealroom.media.types import MediaPrivacy, Participant, Permission, PrivacyMode

__all__ = [
    "AudienceCombinator",
    "AudienceCombinatorBuilder",
    "AudienceDraft",
    "AudienceFilters",
    "AudienceReference",
    "AudienceRefusedError",
    "Audiences",
    "CollaborationType",
    "CombineOperator",
    "CustomAudience",
    "DcrConfiguration",
    "ExclusionTargetingAudienceBuilder",
    "Filter",
    "FilterOperator",
    "IdType",
    "LookalikeAudienceBuilder",
    "MatchOperator",
    "MediaDcr",
    "MediaPrivacy",
    "Participant",
    "Permission",
    "PrivacyMode",
    "RemarketingAudienceBuilder",
    "RuleBasedAudienceBuilder",
    "SeedAudience",
]
