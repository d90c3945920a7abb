"""``sealroom attest [URL]``: verify a server's attestation and print what was verified.

For a human to compare with what the other parties see (and with a published release): the
provider, the measurement of the core's code, the specification it matched (by default any release
this SDK lists, or a development build's own code; ``--spec`` and ``--spec-file`` pin others, see
``docs/releases.md``), the version the core states, and fingerprints of the core's keys — the
signing key is the one ``sealroom audit verify --key`` pins. Needs no account: the attestation
document is public. Exit status 1 when verification fails; the reason names what the server runs
and how to pin it.
"""

from __future__ import annotations

import hashlib
import secrets
import warnings
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape

from sealroom.attestation import enclave_specifications, verify_attestation
from sealroom.cli._common import AsJson, console, echo_json
from sealroom.client._http import api_url_from_env, tls_verification
from sealroom.errors import (
    ConfigurationError,
    SealroomError,
    SimulatedAttestationWarning,
)

__all__ = ["attest"]


def attest(
    url: Annotated[
        str | None, typer.Argument(help="Server URL (default: SEALROOM_API_URL).")
    ] = None,
    spec_file: Annotated[
        Path | None,
        typer.Option(
            "--spec-file",
            help="Trust the enclave specification(s) in this JSON file (e.g. a release's).",
        ),
    ] = None,
    spec: Annotated[
        list[str] | None,
        typer.Option(
            "--spec", help="Trust this specification id (repeatable), e.g. sealroom.core:v0.2.0."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify the server's attestation with a fresh nonce and print what was verified."""
    api_url = api_url_from_env(url)
    try:
        if spec_file is not None:
            specs = enclave_specifications.from_file(spec_file)
        elif spec:
            specs = enclave_specifications.versions(spec)
        else:
            specs = enclave_specifications.latest()
    except (ValueError, ConfigurationError) as exc:
        raise typer.BadParameter(str(exc)) from None
    nonce = secrets.token_bytes(32)
    try:
        response = httpx.get(
            f"{api_url.rstrip('/')}/v1/enclave/attestation",
            params={"nonce": nonce.hex()},
            timeout=30,
            # The CA bundle every client of this process uses (--ca-bundle, SEALROOM_CA_BUNDLE).
            verify=tls_verification(None),
        )
        response.raise_for_status()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SimulatedAttestationWarning)
            verified = verify_attestation(response.json(), specs, nonce=nonce)
    except (httpx.HTTPError, ValueError) as exc:
        console.print(
            f"[red]NOT VERIFIED[/red]: cannot fetch the attestation of {escape(api_url)}: "
            f"{escape(str(exc))}",
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    except SealroomError as exc:
        # soft_wrap: the reason holds commands to copy, which a line break would cut.
        console.print(f"[red]NOT VERIFIED[/red]: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    kem = verified.kem_public_key.to_bytes()
    if as_json:
        echo_json(
            {
                "server": api_url,
                "provider": verified.provider,
                "measurement": str(verified.measurement),
                "specification": verified.specification.id,
                "core_version": verified.core_version,
                "signing_key": verified.verify_key.hex(),
                "encryption_key_sha256": hashlib.sha256(kem).hexdigest(),
                "simulated": bool(verified.is_simulated or caught),
            }
        )
        return
    typer.echo(f"server:             {api_url}")
    typer.echo(f"provider:           {verified.provider}")
    typer.echo(f"measurement:        {verified.measurement}")
    typer.echo(f"specification:      {verified.specification.id}")
    typer.echo(f"version:            {verified.core_version} (as the core states it)")
    typer.echo(f"signing key:        {verified.verify_key.hex()}")
    typer.echo(f"encryption key:     sha256:{hashlib.sha256(kem).hexdigest()}")
    typer.echo("nonce:              fresh (32 random bytes), bound into the evidence")
    if verified.is_simulated or caught:
        typer.echo(
            "WARNING: SIMULATED attestation - no confidential-computing hardware protects this "
            "server; the evidence only proves possession of the signing key."
        )
