"""What ``sealroom datalab`` reads from its options: identifier specs, collaboration types and
dataset names.

An identifier is ``NAME:ID_TYPE[:matching][:activation]``: NAME becomes a column of the
identifiers table (a letter, then letters, digits or ``_``), ID_TYPE is an :class:`IdType` and
the flags say what media rooms may do with it; type and flags are read in any case. Anything
else is a usage error (exit 2) that names what is wrong and what is valid, before anything is
sent to a server.
"""

from __future__ import annotations

from typing import Final

from sealroom.cli._common import usage_error
from sealroom.data_lab import CollaborationType, DataLabDatasetType, IdentifiersConfig, IdType
from sealroom.data_lab.layout import IDENTIFIER

__all__ = [
    "DATASET_NAMES",
    "MAX_EMBEDDINGS",
    "parse_collaboration_types",
    "parse_dataset",
    "parse_identifier",
    "parse_identifiers",
]

#: Values per row of an embeddings dataset, at most (the SDK's limit).
MAX_EMBEDDINGS: Final = 1000
#: The flags an identifier spec may carry after its id type.
IDENTIFIER_FLAGS: Final = ("matching", "activation")
#: What a dataset is called on the command line: the DataLab's table names, and "identifiers"
#: (the validation reports' name) for the matching table.
DATASET_NAMES: Final = {
    "matching": DataLabDatasetType.MATCH,
    "identifiers": DataLabDatasetType.MATCH,
    "segments": DataLabDatasetType.SEGMENTS,
    "demographics": DataLabDatasetType.DEMOGRAPHICS,
    "embeddings": DataLabDatasetType.EMBEDDINGS,
}


def parse_identifier(spec: str) -> IdentifiersConfig:
    """``NAME:ID_TYPE[:matching][:activation]`` (type and flags in any case) as a column of the
    identifiers dataset; a usage error naming what is wrong (and the valid id types)."""
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        usage_error(
            f"--identifier {spec!r}: write NAME:ID_TYPE[:matching][:activation], e.g. "
            "userId:STRING:activation or email:HASHED_EMAIL:matching"
        )
    name, kind, *flags = parts
    if not IDENTIFIER.match(name):
        usage_error(
            f"--identifier {spec!r}: the name {name!r} must be a letter, then letters, digits "
            "or '_' (64 at most): it becomes a column name"
        )
    try:
        id_type = IdType(kind.upper())
    except ValueError:
        usage_error(
            f"--identifier {spec!r}: {kind!r} is not an id type; the id types are "
            + ", ".join(t.value for t in IdType)
        )
    lowered = [flag.lower() for flag in flags]
    for flag in lowered:
        if flag not in IDENTIFIER_FLAGS:
            usage_error(
                f"--identifier {spec!r}: {flag!r} is not a flag; after the id type come "
                "'matching' (media rooms match on it) and/or 'activation' (audiences are "
                "delivered as it)"
            )
    if len(set(lowered)) != len(lowered):
        usage_error(f"--identifier {spec!r}: a flag is given twice")
    return IdentifiersConfig(name, id_type, "matching" in lowered, "activation" in lowered)


def parse_identifiers(specs: list[str]) -> list[IdentifiersConfig]:
    """Every ``--identifier``, in order: the user id first, then at least one other identifier,
    one of them matching, each with its own name (they become the identifiers table's columns)."""
    identifiers = [parse_identifier(spec) for spec in specs]
    if len(identifiers) < 2:
        usage_error(
            "a DataLab needs the user id and at least one other identifier: e.g. "
            "--identifier userId:STRING:activation --identifier email:HASHED_EMAIL:matching"
        )
    if not any(c.is_matching_id for c in identifiers[1:]):
        usage_error(
            "no identifier after the user id (the first --identifier) is matching: add "
            "':matching' to the one media rooms should match on"
        )
    names = [c.id_name.lower() for c in identifiers]
    if len(set(names)) != len(names):
        usage_error("each --identifier needs its own name (case aside): they become columns")
    return identifiers


def parse_collaboration_types(items: list[str]) -> list[CollaborationType]:
    """``INSIGHTS``, ``LOOKALIKE`` … (or the seed's ``ENABLE_…`` values), repeated or separated
    by commas, in any case."""
    known = {t.wire: t for t in CollaborationType} | {t.value: t for t in CollaborationType}
    chosen: list[CollaborationType] = []
    for item in items:
        for word in filter(None, (w.strip().upper() for w in item.split(","))):
            if word not in known:
                usage_error(
                    f"--collaboration-type {word!r} is not a collaboration type; use "
                    + ", ".join(t.wire for t in CollaborationType)
                )
            chosen.append(known[word])
    return chosen


def parse_dataset(name: str) -> DataLabDatasetType:
    """A dataset as ``--dataset`` names it: a DataLab table, or ``identifiers``."""
    try:
        return DATASET_NAMES[name.strip().lower()]
    except KeyError:
        usage_error(
            f"--dataset {name!r}: a DataLab's datasets are "
            + ", ".join(n for n in DATASET_NAMES if n != "identifiers")
            + " ('identifiers' is the matching dataset)"
        )
