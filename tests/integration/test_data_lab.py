"""The DataLab (seed 003) against a real ``sealroom serve``: build, provision, validate, and
statistics computed by the core, checked against the same statistics computed here in Python."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.data_lab import (
    DataLabBuilder,
    DataLabDatasetType,
    IdentifiersConfig,
    IdType,
    ValidationReports,
)
from sealroom.data_lab.layout import GROUP_ROUNDING
from sealroom.errors import SealroomError
from tests.integration.conftest import BANK, INSURER, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

K = 10
SEGMENTS = ["sports", "news", "travel", "cars", "rare"]
AGES = ["18-24", "25-34", "35-44"]
GENDERS = ["f", "m"]


def rounded(n: int) -> int:
    return (n + GROUP_ROUNDING // 2) // GROUP_ROUNDING * GROUP_ROUNDING


def generate(tmp: Path, users: int = 600) -> dict[str, object]:
    rng = random.Random(20)
    ids: list[tuple[str, str]] = []
    for u in range(users):
        for j in range(1 + u % 2):  # half the users have two e-mails
            ids.append((f"u{u}", f"user{u}.{j}@mail.example"))
    segments: list[tuple[str, str]] = []
    for u in range(users):
        for s in rng.sample(SEGMENTS[:4], 3):
            segments.append((f"u{u}", s))
    for u in range(5):  # a segment held by 5 users: below the minimum group size
        segments.append((f"u{u}", "rare"))
    demographics = [(f"u{u}", rng.choice(AGES), rng.choice(GENDERS)) for u in range(users)]
    for name, rows in (("ids", ids), ("segments", segments), ("demographics", demographics)):
        (tmp / f"{name}.csv").write_text("".join(",".join(r) + "\n" for r in rows))
    return {"ids": ids, "segments": segments, "demographics": demographics}


def test_data_lab_end_to_end(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    data = generate(tmp_path)
    lab = (
        DataLabBuilder(client)
        .with_name("publisher audience")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .with_segments()
        .with_demographics()
        .with_minimum_group_size(K)
        .build()
    )
    key = sr.Key()
    lab.provision_local_datasets(
        key,
        tmp_path / "ids.csv",
        segments_data_path=tmp_path / "segments.csv",
        demographics_data_path=tmp_path / "demographics.csv",
    )
    lab.run()
    report = lab.get_validation_report(timeout=60)
    assert set(report) == {"identifiers", "segments", "demographics"}
    assert lab.is_validation_passed(report)
    assert lab.get_validation_reports().is_passed()
    assert lab.get_validation_status(timeout=60)["status"] == "SUCCESS"

    stats = lab.get_statistics_report(timeout=120)
    ids = data["ids"]
    segments = data["segments"]
    demographics = data["demographics"]
    assert isinstance(ids, list)
    assert isinstance(segments, list)
    assert isinstance(demographics, list)
    users = {u for u, _ in ids}
    assert stats["basic_statistics"]["identifiers"]["distinct_user_ids"] == len(users)
    assert stats["basic_statistics"]["identifiers"]["valid_rows"] == len(ids)
    email = stats["identifiers_overview"]["email"]
    assert email["distinct_ids"] == len({e for _, e in ids})
    per_user = Counter(u for u, _ in ids)
    assert email["avg_ids_per_user"] == round(sum(per_user.values()) / len(per_user), 3)
    assert email["max_userids_per_id"] == 1
    # Users per segment: only groups of >= K users, rounded to GROUP_ROUNDING.
    seg_users: dict[str, set[str]] = defaultdict(set)
    for u, s in segments:
        seg_users[s].add(u)
    counts = stats["segment_statistics"]["segment_user_counts"]["email"]
    expected = {s: rounded(len(us)) for s, us in seg_users.items() if len(us) >= K}
    assert {s: v["all_users"]["absolute"] for s, v in counts.items()} == expected
    assert "rare" not in counts
    assert stats["segment_statistics"]["distinct_users_with_segments"] == len(users)
    n_per_user = Counter(Counter(u for u, _ in segments).values())
    dist = stats["segment_statistics"]["segments_per_user_distribution"]["email"]["all_users"]
    assert {int(n): v["absolute"] for n, v in dist.items()} == {
        n: rounded(c) for n, c in n_per_user.items() if c >= K
    }
    demo = Counter(f"{a}||{g}" for _, a, g in demographics)
    released = stats["demographic_statistics"]["all_users"]
    assert {k: v["absolute"] for k, v in released.items()} == {
        k: rounded(c) for k, c in demo.items() if c >= K
    }
    assert stats["status"] == "SUCCESS"

    # from_existing: the same DataLab, its configuration read from the verified room.
    again = DataLabBuilder(client).from_existing(lab.id).build()
    assert again.config == lab.config
    assert again.get()["id"] == lab.id
    assert not again.is_statistics_shared_with_dq()

    # Another user can neither open it nor run its computations.
    other = sr.create_client(INSURER, server.add_user(INSURER), api_url=server.url)
    with pytest.raises(SealroomError):
        DataLabBuilder(other).from_existing(lab.id).build()


def test_bad_rows_are_dropped_and_reported(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    lab = (
        DataLabBuilder(client)
        .with_name("bad")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .build()
    )
    rows = [f"u{i},p{i}@mail.example" for i in range(20)]
    rows += ["u20,not-an-email", "u21,also@bad", "u0,p0@mail.example"]  # 2 bad, 1 duplicate
    path = tmp_path / "ids.csv"
    path.write_text("\n".join(rows) + "\n")
    lab.provision_local_datasets(sr.Key(), path)
    report = lab.get_validation_report()
    body = report["identifiers"]["report"]
    assert body["outcome"] == "PASSED"
    assert body["numInvalidRowsByErrorCode"] == {"INVALID_EMAIL_FORMAT": 2, "DUPLICATE_VALUES": 1}
    assert body["dropInvalidRows"]["numInvalidRowsDropped"] == 3
    assert "not-an-email" not in str(report)  # no data values in reports
    stats = lab.get_statistics_report(timeout=60)
    assert stats["basic_statistics"]["identifiers"]["valid_rows"] == 20
    assert stats["basic_statistics"]["identifiers"]["invalid_rows"] == 3
    assert stats["basic_statistics"]["identifiers"]["distinct_user_ids"] == 20
    assert ValidationReports(report["identifiers"]).is_passed()
    lab.deprovision_dataset(DataLabDatasetType.MATCH)
    assert not lab.get()["datasets"]


def test_the_docs_example_runs(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markdown = (Path(__file__).resolve().parents[2] / "docs" / "data-lab.md").read_text()
    code = markdown.split("```python\n", 1)[1].split("```", 1)[0]
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    generate(tmp_path, users=100)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"client": client, "key": sr.Key()}
    exec(compile(code, "docs/data-lab.md", "exec"), namespace)  # the docs example, verbatim
    stats = namespace["stats"]
    assert isinstance(stats, dict)
    assert stats["basic_statistics"]["identifiers"]["distinct_user_ids"] == 100


def test_enhanced_status_and_is_data_lab_validated(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    from sealroom.data_lab import DataLab

    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    generate(tmp_path, users=100)
    # One malformed identifiers row: dropped, and counted by reason.
    with (tmp_path / "ids.csv").open("a") as ids:
        ids.write("u9999,not an e-mail\n")
    lab = (
        DataLabBuilder(client)
        .with_name("enhanced")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .with_segments()
        .with_demographics()
        .build()
    )
    assert not DataLab.is_data_lab_validated(client, lab.id)  # nothing provisioned yet
    lab.provision_local_datasets(
        sr.Key(),
        tmp_path / "ids.csv",
        segments_data_path=tmp_path / "segments.csv",
        demographics_data_path=tmp_path / "demographics.csv",
    )
    lab.run()
    enhanced = lab.get_enhanced_validation_status(timeout=120)
    assert enhanced["status"] == "SUCCESS"
    assert sum(enhanced["datasets"]["matching"]["invalid_rows_by_reason"].values()) == 1
    # 5 distinct segments: fewer than the seed's minimum of 10, a warning, not a failure.
    assert [w["code"] for w in enhanced["quality_warnings"]] == ["FEW_SEGMENTS"]
    assert DataLab.is_data_lab_validated(client, lab.id)
