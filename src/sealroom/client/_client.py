"""The SDK's entry point: :func:`create_client` and :class:`Client`.

Layering: the client is the SDK's top; it creates the analytics objects (``AnalyticsDcr``) and
imports :mod:`sealroom.analytics`, which never imports the client back at run time.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from sealroom.analytics import AnalyticsDcr, AnalyticsDcrDefinition
from sealroom.attestation import EnclaveSpecification, enclave_specifications
from sealroom.client._http import DEFAULT_TIMEOUT_SECONDS, ApiClient, api_url_from_env
from sealroom.client._identity import ParticipantKeys
from sealroom.client._session import Session, _parse, _plain
from sealroom.client._upload import DEFAULT_PARALLEL_UPLOADS, ProgressCallback, upload_encrypted
from sealroom.crypto import DEFAULT_CHUNK_SIZE, Key
from sealroom.crypto.certificates import root_fingerprint, verify_participant_certificate
from sealroom.errors import ConfigurationError, DefinitionError, NotFoundError, VerificationError
from sealroom.model.definition import RoomDefinition, SqlNode, rebuild_definition
from sealroom.model.identities import (
    PLATFORM_ROOT_NAME,
    AuthenticationMethod,
    TrustRoot,
    check_identities,
    complete_identities,
    format_fingerprint,
    key_fingerprint,
)
from sealroom.model.principal import normalise_email
from sealroom.model.template import export_template, parse_template
from sealroom.model.wire import JobOut, MeOut


class Auth:
    """Seed SDK compatibility: the identity a session acts as (the client's e-mail and key)."""

    def __init__(self, user_id: str, fingerprint: str) -> None:
        self.user_id = user_id
        #: The fingerprint of the signing key the SDK signs this user's actions with.
        self.fingerprint = fingerprint

    def __repr__(self) -> str:
        return f"Auth({self.user_id}, key {format_fingerprint(self.fingerprint[:16])} …)"


class Client:
    """Talks to one Sealroom server as one user.

    The API token must belong to ``user_email``: before its first request the client asks the
    server whose token it is, and raises :class:`~sealroom.errors.AuthenticationError` naming
    both addresses if they differ (a token does not silently act as another address).
    """

    def __init__(
        self,
        user_email: str,
        api_token: str,
        *,
        api_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        enclave_specs: Mapping[str, EnclaveSpecification] | None = None,
        state_dir: Path | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        if not api_token:
            raise ConfigurationError(
                "no API token: pass one, or set SEALROOM_API_TOKEN "
                "(create one with `sealroom user add EMAIL --data-dir DIR`)"
            )
        self.user_email = user_email
        # The token must be this address's: checked once, before the first request (GET /v1/me).
        self._api = ApiClient(
            api_url_from_env(api_url),
            api_token,
            transport=transport,
            timeout=timeout,
            account_email=user_email,
            ca_bundle=ca_bundle,
        )
        self._enclave_specs = enclave_specs
        #: Where verified audit checkpoints are kept (None: ``SEALROOM_STATE_DIR`` or default).
        self.state_dir = state_dir
        self._session: Session | None = None
        #: The user's signing key and certificates (one store for the client and its sessions).
        self.participant_keys = ParticipantKeys(state_dir)
        self._platform_root: TrustRoot | None = None

    @property
    def api_url(self) -> str:
        return self._api.api_url

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -----------------------------------------------------------------------
    def create_session(
        self,
        auth: Auth | None = None,
        enclave_specs: Mapping[str, EnclaveSpecification] | None = None,
    ) -> Session:
        """Open an attested session (verifies the core's attestation first)."""
        del auth
        specs = enclave_specs or self._enclave_specs or enclave_specifications.latest()
        return Session(self, specs)

    def session(self) -> Session:
        """The client's shared attested session, opened on first use."""
        if self._session is None:
            self._session = self.create_session()
        return self._session

    # -- identity (docs/identities.md) ---------------------------------------------------
    def create_auth_using_platform_pki(
        self, enclave_specs: Mapping[str, EnclaveSpecification] | None = None
    ) -> tuple[Auth, None]:
        """Seed SDK compatibility: ``(auth, endorser)``. Makes this user's signing key if there
        is none yet, and gets it certified by the platform's CA."""
        del enclave_specs
        self.platform_certificate(self.platform_root_fingerprint())
        return self.create_auth(), None

    #: The seed tutorial's name (seed 000), for scripts ported with only the import changed.
    create_auth_using_decentriq_pki = create_auth_using_platform_pki

    def create_auth(self) -> Auth:
        return Auth(self.user_email, self.key_fingerprint())

    @property
    def platform_pki_authentication(self) -> AuthenticationMethod:
        """Recognise a participant by certificates from the operator's CA (the default)."""
        return AuthenticationMethod.platform_pki()

    #: The seed tutorial's name for :attr:`platform_pki_authentication`.
    decentriq_pki_authentication = platform_pki_authentication

    def key_fingerprint(self) -> str:
        """The fingerprint of this user's signing key (made now if there is none): compare it
        out of band with whoever pins it in a room."""
        return self.participant_keys.fingerprint(self.user_email)

    def participant_key(self, email: str) -> str:
        """The key fingerprint the host's directory holds for ``email`` — the host's word:
        confirm it with that person before you pin it (``AuthenticationMethod.pinned_key``)."""
        body = self._api.get_json(f"/v1/directory/{email}")
        fingerprint = str(body.get("fingerprint", ""))
        public_key = str(body.get("public_key", ""))
        try:
            if key_fingerprint(bytes.fromhex(public_key)) != fingerprint:
                raise ValueError
        except ValueError:
            raise VerificationError(
                f"the directory's entry for {email} is inconsistent (its key does not match its "
                "fingerprint)"
            ) from None
        return fingerprint

    def platform_root(self) -> TrustRoot:
        """The operator's CA, as the host presents it: the room trust root of the platform PKI."""
        if self._platform_root is None:
            body = self._api.get_json("/v1/pki/root")
            pem = str(body.get("certificate", ""))
            try:
                root = TrustRoot(name=PLATFORM_ROOT_NAME, certificate=pem, operator=True)
                check_identities([root], [])
            except (ValueError, DefinitionError):
                raise VerificationError(
                    "the server's platform CA certificate is malformed"
                ) from None
            self._platform_root = root
        return self._platform_root

    def platform_root_fingerprint(self) -> str:
        return root_fingerprint(self.platform_root().certificate)

    def platform_certificate(self, root_fingerprint_hex: str) -> bytes | None:
        """A certificate of this user's key from the platform's CA whose fingerprint is
        ``root_fingerprint_hex`` — kept, or asked for now; None if the server's CA is another
        one (a room made under an earlier CA of the operator)."""
        email = self.user_email
        kept = self.participant_keys.certificate(email, root_fingerprint_hex)
        if kept is not None:
            return kept
        root = self.platform_root()
        if root_fingerprint(root.certificate) != root_fingerprint_hex:
            return None
        key = self.participant_keys.signing_key(email).verify_key
        body = self._api.post_json("/v1/pki/certificates", {"public_key": key.hex()})
        try:
            der = base64.b64decode(str(body.get("certificate", "")), validate=True)
            verify_participant_certificate(
                root.certificate, der, email, key, dt.datetime.now(dt.UTC)
            )
        except (ValueError, VerificationError) as exc:
            raise VerificationError(
                f"the platform's CA answered with a certificate that does not certify your key "
                f"for {email}: {exc}"
            ) from None
        self.participant_keys.save_certificate(email, root_fingerprint_hex, der)
        return der

    def default_authentication(self, definition: RoomDefinition) -> RoomDefinition:
        """``definition`` with every participant it names no identity for recognised through
        the platform's CA (the seed's default authentication)."""
        roots, identities = complete_identities(
            definition.trust_roots,
            definition.identities,
            definition.participant_emails(),
            self.platform_root(),
        )
        if identities == definition.identities:
            return definition
        return rebuild_definition(
            definition, "the room definition", trust_roots=roots, identities=identities
        )

    # -- datasets -----------------------------------------------------------------------
    def upload_dataset(
        self,
        data: BinaryIO,
        key: Key,
        file_name: str,
        /,
        *,
        description: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Encrypt ``data`` locally with ``key`` and upload it; returns the dataset id.

        Uploading needs no room; publish the dataset to a node afterwards. The key never leaves
        this process unencrypted.
        """
        return upload_encrypted(
            self._api,
            data,
            key,
            file_name,
            description=description,
            chunk_size=chunk_size,
            parallel_uploads=parallel_uploads,
            progress=progress,
        )

    def get_available_datasets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._api.get_json("/v1/datasets")
        return result

    def get_dataset(self, manifest_hash: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._api.get_json(f"/v1/datasets/{manifest_hash}")
        except NotFoundError:
            return None
        return result

    def delete_dataset(self, manifest_hash: str) -> None:
        self._api.request("DELETE", f"/v1/datasets/{manifest_hash}")

    # -- the account ----------------------------------------------------------------------
    def account_email(self) -> str:
        """The normalised address of the account the API token belongs to (the server's
        answer; the first request of the client has already checked it is ``user_email``)."""
        body = _parse(MeOut, self._api.get_json("/v1/me"), "account")
        return body.email

    # -- jobs -----------------------------------------------------------------------------
    def get_jobs(self, data_room_id: str, /, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Your own jobs of the room, the most recent ``limit`` (the server's default: 100),
        oldest first: ``job_id``, ``node``, ``status``, ``created_at_ms``, ``finished_at_ms``,
        the error of a failed one …

        The host's list, to find a job again; a result fetched for one is verified like any
        other (and opens only with the key of the session that submitted the job).
        """
        params = None if limit is None else {"limit": limit}
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/jobs", params=params)
        jobs: list[dict[str, Any]] = _plain(_parse(list[JobOut], body, "list of jobs"))
        return jobs

    # -- rooms --------------------------------------------------------------------------
    def get_data_room_descriptions(
        self, *, exclude_stopped_dcrs: bool = False
    ) -> list[dict[str, Any]]:
        rooms: list[dict[str, Any]] = self._api.get_json("/v1/rooms")
        if exclude_stopped_dcrs:
            rooms = [r for r in rooms if r["status"] != "stopped"]
        return rooms

    def publish_analytics_dcr(self, dcr_definition: AnalyticsDcrDefinition) -> AnalyticsDcr:
        session = self.session()
        room_id = session.publish_data_room(dcr_definition.definition)
        return AnalyticsDcr(
            self, session, room_id, *session.retrieve_current_data_room_configuration(room_id)
        )

    def retrieve_analytics_dcr(self, dcr_id: str) -> AnalyticsDcr:
        session = self.session()
        return AnalyticsDcr(
            self, session, dcr_id, *session.retrieve_current_data_room_configuration(dcr_id)
        )

    # -- templates (docs/room-definition.md) --------------------------------------------
    def export_dcr_definition(self, dcr_id: str) -> str:
        """The room's definition as a JSON template (without its salt), verified first.

        Verified like :meth:`retrieve_analytics_dcr`: it hashes to ``dcr_id`` and the attested
        core signed it. :meth:`create_dcr_from_json` makes a new room from the text.
        """
        return export_template(self.session().retrieve_data_room(dcr_id))

    def create_dcr_from_json(
        self, text: str | bytes, /, *, replace_owner: bool = False
    ) -> AnalyticsDcr:
        """Publish a JSON template as a new room (fresh salt, so a new id) and return it.

        You publish rooms you own: a template without an owner gets you; one naming somebody
        else is refused unless ``replace_owner``, which makes you the owner (participants and
        their roles stay as written). Every problem of the file is a :class:`DefinitionError`
        naming where it is, raised before anything is sent.
        """
        definition = parse_template(text, owner=self.user_email, replace_owner=replace_owner)
        if normalise_email(definition.owner) != normalise_email(self.user_email):
            raise DefinitionError(
                f"the template's owner is {definition.owner}, but you are {self.user_email}: "
                'you can only publish rooms you own. Set "owner" in the file to your e-mail, '
                "or make yourself the owner with `sealroom dcr create --owner-self` "
                "(SDK: create_dcr_from_json(text, replace_owner=True))"
            )
        _check_queries(definition)
        return self.publish_analytics_dcr(AnalyticsDcrDefinition(definition))


def _check_queries(definition: RoomDefinition) -> None:
    # The tables each query reads must be its declared dependencies; the core checks this
    # too, but the builder checks it before publishing and so does a template. sqlglot loads
    # here, at the first check, not with the SDK (issue 15, item 7).
    from sealroom.compute.sql.references import check_query_dependencies

    for node in definition.nodes:
        if isinstance(node, SqlNode):
            try:
                check_query_dependencies(node.query, node.dependencies)
            except DefinitionError as exc:
                raise DefinitionError(
                    f"invalid room template: SQL node {node.name!r}: {exc}"
                ) from None


def create_client(
    user_email: str | None = None,
    api_token: str | None = None,
    *,
    api_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    enclave_specs: Mapping[str, EnclaveSpecification] | None = None,
    state_dir: Path | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
) -> Client:
    """Create a client; e-mail, token and URL default to ``SEALROOM_EMAIL``,
    ``SEALROOM_API_TOKEN`` and ``SEALROOM_API_URL``.

    An ``https://`` server's certificate is always verified: against ``ca_bundle`` (a PEM file
    of CA certificates, default ``SEALROOM_CA_BUNDLE``) when given, else the public CAs."""
    email = user_email or os.environ.get("SEALROOM_EMAIL", "")
    if not email:
        raise ConfigurationError("no user e-mail: pass one or set SEALROOM_EMAIL")
    return Client(
        email,
        api_token or os.environ.get("SEALROOM_API_TOKEN", ""),
        api_url=api_url,
        transport=transport,
        timeout=timeout,
        enclave_specs=enclave_specs,
        state_dir=state_dir,
        ca_bundle=ca_bundle,
    )
