"""A DataLab as its publisher reads it on a terminal: its configuration, the validation of each
dataset, and a summary of its statistics report (``sealroom datalab show|validation|statistics``).

Everything here is printed on stdout (it is the commands' data) from what the SDK verified: the
room's definition, and results the core sealed to the publisher's session. Names and values the
publisher wrote (identifier and segment names, ages, genders) are shown as text, never markup,
with :func:`~sealroom.cli._common.escape_untrusted`. Group counts are shown as released: the
core left out groups below the minimum group size and rounded the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import typer

from sealroom.cli._common import escape_untrusted, iso_time, print_table
from sealroom.data_lab import DataLabConfig, DataLabDatasetType
from sealroom.data_lab.layout import GROUP_ROUNDING

__all__ = ["REPORT_NAME", "identifier_spec", "print_show", "print_statistics", "print_validation"]

#: Name of each dataset in the SDK's validation reports (the table of identifiers is
#: ``matching``; its report is ``identifiers``).
REPORT_NAME: Final = {
    DataLabDatasetType.MATCH: "identifiers",
    DataLabDatasetType.SEGMENTS: "segments",
    DataLabDatasetType.DEMOGRAPHICS: "demographics",
    DataLabDatasetType.EMBEDDINGS: "embeddings",
}


def identifier_spec(config: DataLabConfig) -> str:
    """The identifiers as ``sealroom datalab create --identifier`` takes them."""
    return ", ".join(
        f"{c.id_name}:{c.id_type.value}"
        + (":matching" if c.is_matching_id else "")
        + (":activation" if c.is_activation_id else "")
        for c in config.identifiers_config
    )


def print_show(
    config: DataLabConfig, described: Mapping[str, Any], columns: Mapping[str, str]
) -> None:
    """``described`` is :meth:`DataLab.get`; ``columns`` each table's columns, as text."""
    published = {entry["node"]: entry for entry in described["datasets"]}
    typer.echo(f"DataLab {described['id']}")
    typer.echo(f"name: {escape_untrusted(config.name)}")
    typer.echo(f"publisher: {escape_untrusted(str(described['publisherEmail']))}")
    typer.echo(f"identifiers: {identifier_spec(config)}")
    typer.echo("collaboration types: " + ", ".join(t.wire for t in config.collaboration_types))
    typer.echo("invalid rows: " + ("dropped" if config.drop_invalid_rows else "refuse the file"))
    typer.echo(f"minimum group size: {config.minimum_group_size}")

    def row(dataset: DataLabDatasetType) -> tuple[str, ...]:
        entry = published.get(dataset.node)
        if entry is None:
            return (dataset.node, columns[dataset.node], "not provisioned", "", "")
        return (
            dataset.node,
            columns[dataset.node],
            str(entry["dataset_id"]),
            str(entry.get("validation", "")),
            iso_time(entry.get("published_at_ms")),
        )

    print_table(
        ("DATASET", "COLUMNS", "DATASET ID", "VALIDATION", "PUBLISHED"),
        (row(dataset) for dataset in config.datasets),
        empty="no datasets",
    )


def print_validation(
    datasets: Iterable[DataLabDatasetType],
    reports: Mapping[str, dict[str, Any]],
    status: Mapping[str, Any],
) -> None:
    """One row per dataset (its core report's counts, and the rows the status computation
    found valid), then the status. A dataset without a report is not provisioned."""

    def row(dataset: DataLabDatasetType) -> tuple[str, ...]:
        report = reports.get(REPORT_NAME[dataset])
        if report is None:
            return (dataset.node, "not provisioned", "-", "-", "-", "-", "")
        body = report["report"]
        dropped = body.get("dropInvalidRows", {}).get("numInvalidRowsDropped")
        valid = status["datasets"].get(dataset.node, {}).get("valid_rows")
        return (
            dataset.node,
            str(body["outcome"]),
            f"{body['numRowsTotal']:,}",
            f"{body['numInvalidRowsTotal']:,}",
            "-" if dropped is None else f"{dropped:,}",
            "-" if valid is None else f"{valid:,}",
            _counts(body.get("numInvalidRowsByErrorCode", {})),
        )

    print_table(
        ("DATASET", "VALIDATION", "ROWS", "INVALID", "DROPPED", "VALID ROWS", "INVALID BY KIND"),
        (row(dataset) for dataset in datasets),
        empty="no datasets",
    )
    _print_findings(status)
    typer.echo(f"status: {status['status']}")


def print_statistics(config: DataLabConfig, stats: Mapping[str, Any]) -> None:
    """A summary of the statistics report (``StatisticsResultV2``'s shape)."""
    basic = stats["basic_statistics"]
    ids = basic["identifiers"]
    typer.echo(f"identifiers: {_rows(ids)}; {ids['distinct_user_ids']:,} distinct users")
    print_table(
        ("IDENTIFIER", "TYPE", "MATCHING", "ACTIVATION", "DISTINCT", "PER USER", "USERS PER ID"),
        (
            (
                name,
                str(entry["id_type"]),
                _yes(entry["is_matching_id"]),
                _yes(entry["is_activation_id"]),
                f"{entry['distinct_ids']:,}",
                f"{entry['avg_ids_per_user']:g}",
                f"{entry['avg_userids_per_id']:g} (max {entry['max_userids_per_id']:,})",
            )
            for name, entry in stats["identifiers_overview"].items()
        ),
        empty="no identifiers",
    )
    for matching_id, reach in stats.get("remarketing_activation_potential", {}).items():
        for activation_id, counts in reach.items():
            typer.echo(
                f"reach by {escape_untrusted(matching_id)}: "
                f"{counts['reachable_activation_ids']:,} distinct {escape_untrusted(activation_id)}"
            )
    protected = (
        f"groups of fewer than {config.minimum_group_size} users left out, counts rounded to "
        f"{GROUP_ROUNDING}"
    )
    segments = stats.get("segment_statistics")
    if segments is not None:
        typer.echo(
            f"\nsegments: {_rows(basic['segments'])}; "
            f"{basic['segments']['distinct_segments']:,} segments, "
            f"{segments['distinct_users_with_segments']:,} users with segments ({protected})"
        )
        _print_segments(segments["segment_user_counts"])
    demographic = stats.get("demographic_statistics")
    if demographic is not None:
        typer.echo(
            f"\ndemographics: {_rows(basic['demographics'])}; "
            f"{demographic['distinct_users_with_demographics']:,} users with demographics "
            f"({protected})"
        )
        print_table(
            ("AGE", "GENDER", "USERS", "SHARE"),
            (
                (*_age_gender(key), f"{entry['absolute']:,}", f"{entry['relative']:.1%}")
                for key, entry in _largest_first(demographic["all_users"])
            ),
            empty="no age and gender group has enough users to be shown",
        )
    embeddings = stats.get("embeddings_statistics")
    if embeddings is not None:
        typer.echo(
            f"\nembeddings: {_rows(basic['embeddings'])}; "
            f"{basic['embeddings']['distinct_scopes']:,} scopes, "
            f"{embeddings['distinct_users_with_embeddings']:,} users with embeddings"
        )
    typer.echo("")
    _print_findings(stats)
    typer.echo(f"status: {stats['status']}")


def _print_findings(document: Mapping[str, Any]) -> None:
    """The data errors and quality warnings a statistics report or an enhanced validation status
    carries, one line each."""
    for kind, label in (("data_errors", "data error"), ("quality_warnings", "quality warning")):
        for item in document.get(kind, []):
            typer.echo(f"{label}: {item['code']}: {escape_untrusted(str(item['message']))}")


def _print_segments(by_matching_id: Mapping[str, Mapping[str, Any]]) -> None:
    """Users per segment, largest first; a column per matching id for the users who have one
    (every matching id's entry holds the same ``all_users``)."""
    matching_ids = list(by_matching_id)
    everyone = by_matching_id[matching_ids[0]] if matching_ids else {}
    print_table(
        ("SEGMENT", "USERS", "SHARE", *(f"WITH {m}" for m in matching_ids)),
        (
            (
                segment,
                f"{entry['all_users']['absolute']:,}",
                f"{entry['all_users']['relative']:.1%}",
                *(
                    f"{by_matching_id[m][segment]['matchable_users']['absolute']:,}"
                    for m in matching_ids
                ),
            )
            for segment, entry in sorted(
                everyone.items(), key=lambda item: (-item[1]["all_users"]["absolute"], item[0])
            )
        ),
        empty="no segment has enough users to be shown",
    )


def _largest_first(groups: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(groups.items(), key=lambda item: (-item[1]["absolute"], item[0]))


def _rows(basic: Mapping[str, Any]) -> str:
    reasons = _counts(basic["invalid_rows_by_reason"])
    return (
        f"{basic['total_rows']:,} rows, {basic['valid_rows']:,} valid, "
        f"{basic['invalid_rows']:,} invalid" + (f" ({reasons})" if reasons else "")
    )


def _counts(by_code: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {count:,}" for code, count in sorted(by_code.items()))


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


def _age_gender(key: str) -> tuple[str, str]:
    """The demographics group key is ``age||gender``; either may be empty."""
    age, _, gender = key.partition("||")
    return age or "(none)", gender or "(none)"
