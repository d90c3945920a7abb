"""``sealroom keys …``: your signing key, its certificates, and the host's key directory.

Every action the core performs for you carries your own signature (ARCHITECTURE §8), made with
an Ed25519 key the SDK keeps in its state directory (``identity/keys/``, mode 0600) and never
sends anywhere. These commands are that key's life cycle (``docs/identities.md``):

* ``show`` — your e-mail and key fingerprint, in groups of four for reading aloud (the key is
  made on first use, and the command says so);
* ``export -o FILE`` / ``import FILE`` — the key as PKCS#8 PEM (a credential: mode 0600, never
  overwritten without ``--force``); an import retires the current key, never deletes it;
* ``rotate`` — a new key (the old one retired), and what each kind of room needs next;
* ``import-certificate FILE --root ROOT`` — a certificate of your key from an organisation's
  CA, checked here before it is kept;
* ``lookup EMAIL`` — the key the host's directory holds for someone: the host's word, to be
  confirmed with that person before it is pinned.

Invariants: nothing here sends the key; a certificate is kept only if it verifies under the
given root for your address and current key now; what the host says is labelled as such.

Exit status: 0 on success; 2 (Click's status for usage errors) with one ``error: …`` line on
stderr for a problem with the arguments, files or local state — a missing e-mail, an unreadable
or refused key or certificate, an existing output file; 1, in the same shape, when the server
refuses or cannot be reached (``lookup``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

import typer

from sealroom.cli._common import ApiUrl, AsJson, Token, echo_json
from sealroom.client._http import DEFAULT_API_URL
from sealroom.client._identity import ParticipantKeys
from sealroom.errors import ConfigurationError, DefinitionError, SealroomError, VerificationError
from sealroom.model.identities import format_fingerprint, key_fingerprint
from sealroom.model.principal import is_email_address, normalise_email

__all__ = ["keys_app", "rotation_advice"]

#: Click's status for usage errors: a bad file or a missing e-mail is a bad argument.
EXIT_USAGE: Final = 2
#: What the server refused or could not answer (as the other client commands).
EXIT_ERROR: Final = 1
#: The largest key or certificate file read (a PEM key is about 120 bytes, a certificate a few
#: kilobytes): a wrong file is refused instead of read whole.
MAX_INPUT_BYTES: Final = 64 * 1024

keys_app = typer.Typer(
    help="Your signing key (kept in the SDK state directory, never sent): show, export, import, "
    "rotate; certificates from your organisation's CA; the host's key directory.",
    no_args_is_help=True,
)

Email = Annotated[
    str, typer.Option("--email", envvar="SEALROOM_EMAIL", help="Your e-mail.", show_default=False)
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="SEALROOM_STATE_DIR",
        help="The SDK state directory (default: $SEALROOM_STATE_DIR or ~/.local/share/sealroom).",
        show_default=False,
    ),
]


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    # typer.echo, not the rich console: paths and addresses must not be read as markup.
    try:
        yield
    except (ConfigurationError, DefinitionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error: cannot use{name}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except SealroomError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def _keys(email: str, state_dir: Path | None) -> tuple[str, ParticipantKeys]:
    """The normalised address and the key store; a usage error without an address."""
    if not email:
        raise ConfigurationError("no e-mail: pass --email or set SEALROOM_EMAIL")
    address = normalise_email(email)
    if not is_email_address(address):
        raise ConfigurationError(f"{email!r} is not an e-mail address")
    return address, ParticipantKeys(state_dir)


def _short(fingerprint: str) -> str:
    return format_fingerprint(fingerprint[:16]) + " …"


def _read_input(path: Path, what: str) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigurationError(f"{path} is too large to be {what}")
    return data


@keys_app.command("show")
def keys_show(email: Email = "", state_dir: StateDir = None, as_json: AsJson = False) -> None:
    """Print your e-mail and your key's fingerprint (the key is made on first use)."""
    with _errors_as_one_line():
        address, keys = _keys(email, state_dir)
        is_new = not keys.has_key(address)
        fingerprint = keys.fingerprint(address)
        if is_new:
            typer.echo(
                f"a new signing key was made for you in {keys.key_path(address)} (mode 0600; "
                "it never leaves this computer: `sealroom keys export` backs it up)",
                err=True,
            )
        if as_json:
            echo_json(
                {
                    "email": address,
                    "key_fingerprint": fingerprint,
                    "key_path": str(keys.key_path(address)),
                    "new": is_new,
                }
            )
            return
        typer.echo(f"e-mail:          {address}")
        typer.echo(f"key fingerprint: {format_fingerprint(fingerprint)}")


@keys_app.command("export")
def keys_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="The PEM file to write (0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    email: Email = "",
    state_dir: StateDir = None,
) -> None:
    """Write your signing key to a file (PKCS#8 PEM, mode 0600), to back it up or move it."""
    with _errors_as_one_line():
        address, keys = _keys(email, state_dir)
        if output.exists() and not force:
            raise ConfigurationError(f"{output} exists; pass --force to overwrite it")
        is_new = not keys.has_key(address)
        pem = keys.export_key(address)
        _write_private(output, pem, replace=force)
        if is_new:
            typer.echo("a new signing key was made for you (you had none yet)", err=True)
        typer.echo(
            f"warning: {output} is a credential: whoever holds it can sign as you in every room "
            "that recognises this key. Keep it offline, mode 0600; never send it to anyone "
            "(not even the operator).",
            err=True,
        )
        fingerprint = keys.fingerprint(address)
        typer.echo(
            f"signing key of {address} ({format_fingerprint(fingerprint)}) written to {output}"
        )


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """``text`` into a new file readable by its owner only (0600 from the start, not chmod-ed
    after writing); with ``replace``, written aside and renamed over ``path``."""
    if replace:
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".sealroom-key-")
        written = Path(name)  # mkstemp makes it 0600
    else:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        written = path
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(written, path)
    except BaseException:
        written.unlink(missing_ok=True)
        raise


@keys_app.command("import")
def keys_import(
    file: Annotated[Path, typer.Argument(help="An Ed25519 key, unencrypted PKCS#8 PEM.")],
    email: Email = "",
    state_dir: StateDir = None,
) -> None:
    """Use the key in FILE from now on; your current key is retired (kept), not deleted."""
    with _errors_as_one_line():
        address, keys = _keys(email, state_dir)
        data = _read_input(file, "a key")
        try:
            pem = data.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(f"{file} is not a PEM file") from None
        old = keys.fingerprint(address) if keys.has_key(address) else None
        new = key_fingerprint(keys.import_key(address, pem).verify_key.to_bytes())
        if old == new:
            typer.echo(
                f"{file} holds the key you already use ({format_fingerprint(new)}): nothing changed"
            )
            return
        kept = f" (kept in {keys.retired_directory})" if old else ""
        typer.echo(f"old key: {format_fingerprint(old) if old else 'none'}{kept}")
        typer.echo(f"new key: {format_fingerprint(new)}")


@keys_app.command("rotate")
def keys_rotate(email: Email = "", state_dir: StateDir = None) -> None:
    """Replace your signing key by a new one (the old one is kept) and say what rooms need.

    Rooms that recognise you through a trust root need a certificate of the new key; rooms
    that pin the old key must be changed (docs/identities.md).
    """
    with _errors_as_one_line():
        address, keys = _keys(email, state_dir)
        if not keys.has_key(address):
            new = keys.fingerprint(address)
            typer.echo("you had no signing key: a new one was made for you")
            typer.echo(f"new key: {format_fingerprint(new)}")
            return
        old = keys.fingerprint(address)
        new = key_fingerprint(keys.rotate(address).verify_key.to_bytes())
        typer.echo(f"old key: {format_fingerprint(old)} (kept in {keys.retired_directory})")
        typer.echo(f"new key: {format_fingerprint(new)}")
        typer.echo(rotation_advice())


def rotation_advice() -> str:
    """What a new key means for the rooms one is in (printed by ``rotate``; docs/identities.md
    says the same)."""
    return (
        "What now:\n"
        "- Rooms that recognise you through a trust root (the platform's CA, or your "
        "organisation's) need nothing but a certificate of the new key. The SDK gets the "
        "platform's by itself; for your organisation's, ask its CA and add it with `sealroom "
        "keys import-certificate`.\n"
        "- Rooms that pin your old key no longer accept your signature until they are "
        "changed. In an interactive room, another participant submits a request that pins "
        "your new key (RequestBuilder.change_authentication in the SDK), and the data owners "
        "approve it (others than you; for data only you own, the room's owner). A static room "
        "never changes: it needs a new room. Give your new fingerprint to them yourself (in "
        "person, by phone), not through the host.\n"
        "- Until then, `sealroom keys import` of the retired key lets you act in those rooms "
        "again (unless it was lost or stolen)."
    )


@keys_app.command("import-certificate")
def keys_import_certificate(
    file: Annotated[Path, typer.Argument(help="The certificate of your key (PEM or DER).")],
    root: Annotated[
        Path, typer.Option("--root", help="The organisation CA's root certificate (PEM).")
    ],
    email: Email = "",
    state_dir: StateDir = None,
) -> None:
    """Keep a certificate of your key from your organisation's CA (checked against ROOT).

    The certificate is kept only if ROOT certifies your current key for your e-mail now; the
    SDK then sends it with your signature in rooms that name ROOT as a trust root.
    """
    from sealroom.crypto.certificates import (
        certificate_facts,
        root_fingerprint,
        verify_participant_certificate,
    )

    with _errors_as_one_line():
        address, keys = _keys(email, state_dir)
        root_pem = _read_input(root, "a root certificate").decode("ascii", errors="replace")
        try:
            fingerprint = root_fingerprint(root_pem)
        except ValueError as exc:
            raise ConfigurationError(f"{root}: {exc}") from None
        der = _certificate_der(file, _read_input(file, "a certificate"))
        if not keys.has_key(address):
            raise ConfigurationError(
                "you have no signing key yet, so no certificate can be of it: make one with "
                "`sealroom keys show` and ask your CA to certify that"
            )
        key = keys.signing_key(address).verify_key
        try:
            verify_participant_certificate(root_pem, der, address, key, dt.datetime.now(dt.UTC))
        except VerificationError as exc:
            raise ConfigurationError(
                f"{file} is not a certificate of your current key "
                f"({_short(keys.fingerprint(address))}) for {address} from {root}: {exc}"
            ) from None
        keys.save_certificate(address, fingerprint, der)
        expires = dt.datetime.fromtimestamp(certificate_facts(der).not_after_ms / 1000, dt.UTC)
        typer.echo(
            f"certificate stored for {address}, root {_short(fingerprint)}, "
            f"valid until {expires:%Y-%m-%d %H:%M} UTC"
        )


def _certificate_der(path: Path, data: bytes) -> bytes:
    """The DER bytes of the (first) certificate in ``data``, PEM (text around it is ignored,
    as CAs' tools print some) or DER."""
    if b"-----BEGIN" not in data:
        return data  # DER, checked by verify_participant_certificate
    found = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", data, re.S)
    try:
        if found is None:
            raise ValueError
        return ssl.PEM_cert_to_DER_cert(found.group().decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ConfigurationError(f"{path} is not a PEM certificate") from None


@keys_app.command("lookup")
def keys_lookup(
    address: Annotated[str, typer.Argument(metavar="EMAIL", help="Whose key to look up.")],
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
    state_dir: StateDir = None,
    as_json: AsJson = False,
) -> None:
    """Print the key fingerprint the host's directory holds for EMAIL (the host's word).

    Confirm it with that person out of band before you pin it in a room.
    """
    from sealroom.client import create_client

    with _errors_as_one_line():
        if not is_email_address(normalise_email(address)):
            raise ConfigurationError(f"{address!r} is not an e-mail address")
        with create_client(email, token, api_url=api_url, state_dir=state_dir) as client:
            fingerprint = client.participant_key(normalise_email(address))
        if as_json:
            echo_json(
                {
                    "email": normalise_email(address),
                    "key_fingerprint": fingerprint,
                    "verified": False,  # the host's word: confirm it out of band
                }
            )
            return
        typer.echo(f"e-mail:          {normalise_email(address)}")
        typer.echo(f"key fingerprint: {format_fingerprint(fingerprint)}")
        typer.echo(
            "This is the host's word, not a verified fact: whoever runs the server can answer "
            "with any key. Confirm the fingerprint with that person out of band (in person, by "
            "phone) before you pin it in a room."
        )
