"""Generated data for the media clean room tests: a publisher's base audience and an
advertiser's seed audiences, with the answers computed here in plain Python."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sealroom as sr
from sealroom.data_lab import CollaborationType, DataLab, DataLabBuilder, IdentifiersConfig, IdType

SEGMENTS = ["sports", "news", "travel", "cars", "rare"]
AGES = ["18-24", "25-34", "35-44"]
GENDERS = ["f", "m"]


@dataclass
class MediaData:
    ids: list[tuple[str, str]] = field(default_factory=list)
    segments: list[tuple[str, str]] = field(default_factory=list)
    demographics: list[tuple[str, str, str]] = field(default_factory=list)
    seed: list[tuple[str, str]] = field(default_factory=list)

    def users_of_email(self) -> dict[str, str]:
        return {email: user for user, email in self.ids}

    def overlap(self, audience_type: str) -> set[str]:
        """Base users matched by the seed audience ``audience_type``."""
        users = self.users_of_email()
        return {users[e] for e, t in self.seed if t == audience_type and e in users}

    def users(self) -> set[str]:
        return {u for u, _ in self.ids}


def generate(tmp: Path, users: int = 2000) -> MediaData:
    """``users`` base users, one e-mail each; users < 600 like sports (and users < 300 cars);
    seed audiences: "buyers" = 500 base users (even ids < 1000) + 100 outsiders, "browsers" =
    150 base users, "tiny" = 30 base users (below a minimum audience size of 100)."""
    rng = random.Random(7)
    data = MediaData()
    for u in range(users):
        data.ids.append((f"u{u}", f"user{u}@mail.example"))
        chosen = {"sports"} if u < 600 else set(rng.sample(SEGMENTS[1:4], 1))
        if u < 300:
            chosen.add("cars")
        for s in sorted(chosen):
            data.segments.append((f"u{u}", s))
        data.demographics.append((f"u{u}", rng.choice(AGES), rng.choice(GENDERS)))
    for u in range(5):
        data.segments.append((f"u{u}", "rare"))
    for u in range(0, 1000, 2):
        data.seed.append((f"user{u}@mail.example", "buyers"))
    for j in range(100):
        data.seed.append((f"outsider{j}@mail.example", "buyers"))
    for u in range(1000, 1150):
        data.seed.append((f"user{u}@mail.example", "browsers"))
    for u in range(1500, 1530):
        data.seed.append((f"user{u}@mail.example", "tiny"))
    for name, rows in (
        ("ids", data.ids),
        ("segments", data.segments),
        ("demographics", data.demographics),
        ("seed", data.seed),
    ):
        (tmp / f"{name}.csv").write_text("".join(",".join(r) + "\n" for r in rows))
    return data


def rounded(n: int, to: int) -> int:
    return (n + to // 2) // to * to


def released(n: int, minimum: int = 100) -> int | None:
    return None if n < minimum else rounded(n, 100)


def data_lab(
    client: sr.Client,
    files: Path,
    key: sr.Key,
    *,
    minimum_group_size: int,
    collaboration_types: Sequence[CollaborationType],
) -> DataLab:
    """The publisher's DataLab of the files :func:`generate` wrote to ``files`` (a user id that
    is the activation id, an e-mail that matches; segments and demographics), provisioned with
    ``key``."""
    lab = (
        DataLabBuilder(client)
        .with_name("news audience")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .with_segments()
        .with_demographics()
        .with_minimum_group_size(minimum_group_size)
        .with_collaboration_types(list(collaboration_types))
        .build()
    )
    lab.provision_local_datasets(
        key,
        files / "ids.csv",
        segments_data_path=files / "segments.csv",
        demographics_data_path=files / "demographics.csv",
    )
    return lab
