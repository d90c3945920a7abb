"""``sealroom demo --media``: a publisher and an advertiser in a media clean room, end to end.

A real server (HTTP on loopback) runs in a temporary directory. The publisher prepares a DataLab
(identifiers, segments, demographics, embeddings), which the core validates and describes; then a
media room with the advertiser and an agency. The advertiser brings seed audiences, sees the
overlap and insights, builds remarketing, rule-based and lookalike audiences, sizes them and
exports one activation list; the agency sees the overlap only. All data is generated here.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sealroom.client import Client, create_client
from sealroom.crypto import Key
from sealroom.data_lab import DataLabBuilder, IdentifiersConfig, IdType
from sealroom.errors import PermissionDeniedError, SimulatedAttestationWarning
from sealroom.media import (
    AudienceFilters,
    CollaborationType,
    Filter,
    FilterOperator,
    LookalikeAudienceBuilder,
    MediaDcr,
    Participant,
    Permission,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
)
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import EmbeddedServer, free_port
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
SEGMENTS = ["sports", "news", "travel", "cars", "food", "tech", "fashion", "finance"]
EMBEDDINGS = 8


def generate(users: int, seed: int = 11) -> dict[str, bytes]:
    """The publisher's four files and the advertiser's seed file (CSV bytes). Buyers lean
    towards one direction of the embedding space and towards the "cars" and "tech" segments,
    so a lookalike model has something to learn."""
    rng = np.random.default_rng(seed)
    ids = np.arange(users)
    vectors = rng.normal(size=(users, EMBEDDINGS))
    affinity = vectors[:, 0] + 0.5 * vectors[:, 1]
    buyer = rng.random(users) < 1 / (1 + np.exp(-(affinity - 2.0) * 2))
    lines = {name: io.StringIO() for name in ("ids", "segments", "demographics", "embeddings")}
    for u in ids:  # a demo of 20,000 users: generating them is not the timed work
        lines["ids"].write(f"u{u},user{u}@mail.example\n")
    weights = np.full(len(SEGMENTS), 1.0)
    for u in ids:
        w = weights.copy()
        if buyer[u]:
            w[[3, 5]] = 4.0
        for s in rng.choice(len(SEGMENTS), size=3, replace=False, p=w / w.sum()):
            lines["segments"].write(f"u{u},{SEGMENTS[s]}\n")
        age = rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"])
        lines["demographics"].write(f"u{u},{age},{rng.choice(['f', 'm'])}\n")
        values = ",".join(f"{v:.4f}" for v in vectors[u])
        lines["embeddings"].write(f"u{u},default,{values}\n")
    seed_rows = io.StringIO()
    for u in ids[buyer]:
        seed_rows.write(f"user{u}@mail.example,buyers\n")
    for j in range(users // 20):
        seed_rows.write(f"stranger{j}@mail.example,buyers\n")
    for u in rng.choice(users, size=users // 10, replace=False):
        seed_rows.write(f"user{u}@mail.example,newsletter\n")
    out = {name: buffer.getvalue().encode() for name, buffer in lines.items()}
    out["seed"] = seed_rows.getvalue().encode()
    return out


def run_media_demo(*, users: int = 20_000, keep: bool = False) -> None:
    console = Console()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="sealroom-media-demo-"))
    settings = Settings(
        data_dir=workdir / "data",
        sealing_key_file=workdir / "sealing.key",
        port=free_port(),
        workers=2,
    )
    try:
        store = open_store(settings)
        tokens = {e: issue_token(store, e) for e in (PUBLISHER, ADVERTISER, AGENCY)}
        store.engine.dispose()
        with EmbeddedServer(settings) as server, warnings.catch_warnings():
            warnings.simplefilter("ignore", SimulatedAttestationWarning)
            console.print(
                f"[bold]Sealroom media demo[/] — server at {server.url}, data in {workdir}"
            )
            console.print(
                "[yellow]attestation is SIMULATED: no confidential-computing hardware protects "
                "the core on this machine[/]"
            )
            clients = {e: create_client(e, t, api_url=server.url) for e, t in tokens.items()}
            _run(console, clients, users, workdir)
    finally:
        if keep:
            console.print(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"[green]done in {time.perf_counter() - started:.1f} s[/]")


def _run(console: Console, clients: dict[str, Client], users: int, workdir: Path) -> None:
    files = generate(users)
    paths = {}
    for name in ("ids", "segments", "demographics", "embeddings"):
        # The publisher's own files, on the publisher's machine (here, the demo's directory).
        paths[name] = workdir / f"{name}.csv"
        paths[name].write_bytes(files[name])
    key = Key()
    lab = (
        DataLabBuilder(clients[PUBLISHER])
        .with_name("news audience")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .with_segments()
        .with_demographics()
        .with_embeddings(EMBEDDINGS)
        .with_collaboration_types(list(CollaborationType))
        .build()
    )
    lab.provision_local_datasets(
        key,
        paths["ids"],
        segments_data_path=paths["segments"],
        demographics_data_path=paths["demographics"],
        embeddings_data_path=paths["embeddings"],
    )
    lab.run()
    status = lab.get_validation_status(timeout=300)
    stats = lab.get_statistics_report(timeout=300)
    console.print(
        f"{PUBLISHER} published DataLab [cyan]{lab.id[:12]}…[/]: validation "
        f"{status['status']}, {stats['basic_statistics']['identifiers']['distinct_user_ids']:,} "
        f"users, {stats['basic_statistics']['segments']['distinct_segments']} segments"
    )

    p = Permission
    groups = [
        Participant(
            [PUBLISHER], [p.PROVIDE_BASE_AUDIENCE, p.VIEW_OVERLAP, p.VIEW_INSIGHTS], "Publisher"
        ),
        Participant(
            [ADVERTISER],
            [
                p.PROVIDE_SEED_AUDIENCE,
                p.VIEW_OVERLAP,
                p.VIEW_INSIGHTS,
                p.CREATE_CUSTOM_AUDIENCE,
                p.EXPORT_AUDIENCE,
                p.MODEL_QUALITY,
            ],
            "Advertiser",
        ),
        Participant([AGENCY], [p.VIEW_OVERLAP], "Agency"),
    ]
    room = MediaDcr(
        clients[PUBLISHER],
        name="news x shop",
        participants=groups,
        collaboration_types=list(CollaborationType),
        matching_ids=[IdType.EMAIL],
        show_match_rate=True,
        base_audience=lab,
    )
    room.provision_base_audience(lab.id, key)
    console.print(f"media room [cyan]{room.id[:12]}…[/] published; base audience provisioned")

    shop = MediaDcr.from_existing(room.id, clients[ADVERTISER])
    shop.upload_seed_audiences(io.BytesIO(files["seed"]), Key())
    console.print(f"{ADVERTISER} encrypted, uploaded and published the seed audiences")

    overlap = shop.get_overlap_statistics().wait_for_completion(300).result()
    table = Table(title="overlap (sizes rounded to 100)")
    for column in ("audience type", "advertiser", "overlap", "match rate"):
        table.add_column(column)
    for entry in overlap["overlap_statistics"]:
        table.add_row(
            entry["audience_type"],
            f"{entry['advertiser_size']:,}",
            f"{entry['overlap_size']:,}",
            f"{entry['match_rate']:.1%}",
        )
    console.print(table)

    insights = shop.get_insights().wait_for_completion(300).result()
    buyers = next(a for a in insights["audiences"] if a["audience_type"] == "buyers")
    segments = next(a for a in buyers["aggregations"] if a["aggregation"][0]["column"] == "segment")
    table = Table(title="buyers by segment (affinity = overlap share / base share)")
    for column in ("segment", "overlap", "base", "affinity"):
        table.add_column(column)
    for row in sorted(segments["rows"], key=lambda r: -(r[6] or 0))[:5]:
        table.add_row(row[0], f"{row[1]:,}", f"{row[2]:,}", f"{row[6]:.2f}")
    console.print(table)

    remarketing = shop.create_remarketing_audience(
        RemarketingAudienceBuilder(name="buyers on news", source_audience_type="buyers").build()
    )
    rule = shop.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="car fans", source_audience="BASE")
        .with_filters(
            AudienceFilters([Filter("segment", ["cars"], FilterOperator.CONTAINS_ANY_OF)])
        )
        .build()
    )
    lookalike = shop.create_lookalike_audience(
        LookalikeAudienceBuilder(name="buyers lookalike 5 %", reach=5, source_audience=remarketing)
        .with_exclude_seed_audience()
        .build()
    )
    table = Table(title="custom audiences (sizes rounded to 100)")
    table.add_column("audience")
    table.add_column("size")
    for audience in (remarketing, rule, lookalike):
        size = shop.get_audience_size(audience).wait_for_completion(300).result()["size"]
        table.add_row(audience.name, "too small" if size is None else f"{size:,}")
    console.print(table)

    quality = shop.get_lookalike_audience_statistics(lookalike).wait_for_completion(600).result()
    auc = quality["quality"]["roc_curve"]["auc"]
    console.print(f"lookalike model trained in the core: ROC AUC {auc:.3f} on a held-out set")

    exported = shop.get_audience_user_list(remarketing).wait_for_completion(300).result()
    console.print(f"{ADVERTISER} exported {len(exported):,} activation ids of '{remarketing.name}'")

    agency = MediaDcr.from_existing(room.id, clients[AGENCY])
    try:
        agency.get_audience_user_list(remarketing)
    except PermissionDeniedError as exc:
        console.print(f"{AGENCY} may not export: {exc}")
    log = room.get_audit_log().splitlines()
    console.print(f"[bold]audit log[/]: {len(log)} verified entries, the last three:")
    for line in log[-3:]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
