// Verifying the core's attestation document in the browser, with the SDK's checklist
// (src/sealroom/attestation/verify.py), before any key leaves the browser: a VerifiedAttestation
// is the only way the other modules get the core's keys.
//
// Document (src/sealroom/attestation/document.py), fetched with a fresh nonce:
//
//     report_data = sha256_hex(canonical_json({measurement, core_version, kem_public_key,
//                                              signing_public_key, nonce, provider, issued_at_ms}))
//     simulated evidence = {"signature": hex(Ed25519(core key, "sealroom/simulated-evidence/v1"
//                                                   || report_data as 32 bytes))}
//
// Checks, in the SDK's order: 1 strict parse; 2 the provider is accepted by a trusted
// specification; 3 the measurement is a trusted one; 4 our nonce; 5 fresh (not older than
// 5 minutes, not more than 1 minute in the future); 6 report_data recomputed; 7 the evidence.
//
// Hardware evidence (SEV-SNP, Nitro) needs certificate chains that the SDK checks and this
// module does not port yet: such documents are refused with a clear error, never accepted.
// Simulated evidence proves only that the server holds the key it attests: `simulated` is true,
// and the page must say so. Pins (trust on first use per origin and per room) limit a forged
// simulated attestation to the very first contact, as the SDK's _pins.py does.

import { fromHex, sha256Hex, toHex } from "./bytes";
import { canonicalJson } from "./canonical";
import {
  AttestationError,
  type CoreKeys,
  type Fetcher,
  type Memory,
  VerificationError,
  codePoints,
  defaultMemory,
  ed25519Verify,
  isObject,
  isSafeInt,
  memoryKeys,
  readRecord,
  writeRecord,
} from "./trust";

export const SIMULATED_PROVIDER = "simulated";
export const CORE_ENCLAVE_NAME = "sealroom.core";
export const MIN_NONCE_BYTES = 16;
export const MAX_NONCE_BYTES = 64;
/** A document older than this is refused (as the SDK's DEFAULT_MAX_AGE_MS). */
export const DEFAULT_MAX_AGE_MS = 300_000;
/** How far in the future issued_at_ms may be (MAX_CLOCK_SKEW_MS). */
export const MAX_CLOCK_SKEW_MS = 60_000;
const SIMULATED_EVIDENCE_DOMAIN = "sealroom/simulated-evidence/v1";

/** One trusted core (the JSON form of EnclaveSpecification.to_dict / releases.json). */
export interface EnclaveSpecification {
  readonly name: string;
  readonly version: string;
  readonly measurement: string;
  readonly acceptedProviders: readonly string[];
}

export function specificationId(spec: EnclaveSpecification): string {
  return `${spec.name}:${spec.version}`;
}

const SPEC_FIELDS = ["name", "version", "measurement", "accepted_providers"];
const HARDWARE_SPEC_FIELDS = ["snp_launch_measurements", "nitro_pcrs", "snp_min_tcb", "snp_vmpl"];

/** Specifications from their JSON form (one object or a list), strictly, as
 * EnclaveSpecification.from_dict: exact fields, a 64-hex measurement, providers listed. The
 * hardware fields are allowed (this browser refuses hardware evidence anyway). */
export function parseSpecifications(data: unknown): EnclaveSpecification[] {
  const items = Array.isArray(data) ? data : [data];
  const specs: EnclaveSpecification[] = [];
  for (const item of items) {
    if (
      !isObject(item) ||
      !SPEC_FIELDS.every((f) => f in item) ||
      !Object.keys(item).every((f) => SPEC_FIELDS.includes(f) || HARDWARE_SPEC_FIELDS.includes(f))
    ) {
      throw new Error(`an enclave specification has exactly the fields ${SPEC_FIELDS.join(", ")}`);
    }
    const { name, version, measurement } = item;
    const providers = item["accepted_providers"];
    if (typeof name !== "string" || !name || typeof version !== "string" || !version) {
      throw new Error("enclave specification: name and version must be non-empty strings");
    }
    if (typeof measurement !== "string" || !/^[0-9a-f]{64}$/.test(measurement)) {
      throw new Error("enclave specification: measurement must be 64 lower-case hex digits");
    }
    if (
      !Array.isArray(providers) ||
      providers.length === 0 ||
      !providers.every((p) => typeof p === "string" && p)
    ) {
      throw new Error("enclave specification: accepted_providers must be a non-empty list");
    }
    const spec = { name, version, measurement, acceptedProviders: [...(providers as string[])] };
    if (specs.some((seen) => specificationId(seen) === specificationId(spec))) {
      throw new Error(`two specifications ${specificationId(spec)}`);
    }
    specs.push(Object.freeze(spec));
  }
  return specs;
}

/** The document as parsed (field names as on the wire). */
export interface AttestationDocument {
  readonly version: number;
  readonly provider: string;
  readonly measurement: string;
  readonly core_version: string;
  readonly kem_public_key: string;
  readonly signing_public_key: string;
  readonly nonce: string;
  readonly issued_at_ms: number;
  readonly report_data: string;
  readonly evidence: Record<string, unknown>;
  readonly warning: string;
}

const TOKEN = Symbol("verifyAttestation");

/** The core's keys and measurement once verifyAttestation accepted them; built nowhere else. */
export class VerifiedAttestation implements CoreKeys {
  readonly provider: string;
  readonly measurement: string;
  readonly coreVersion: string;
  /** True when nothing but software stands behind the attestation: show it on the page. */
  readonly simulated: boolean;
  /** The document's own warning (SIMULATED_WARNING for simulated evidence). */
  readonly warning: string;
  readonly issuedAtMs: number;
  /** X25519, raw 32 bytes: seal dataset keys to it. */
  readonly kemPublicKey: Uint8Array;
  /** Ed25519, raw 32 bytes: check the core's signatures with it. */
  readonly verifyKey: Uint8Array;
  readonly specification: EnclaveSpecification;
  readonly document: AttestationDocument;

  constructor(token: symbol, document: AttestationDocument, specification: EnclaveSpecification) {
    if (token !== TOKEN) throw new TypeError("VerifiedAttestation is built only by verifyAttestation()");
    this.document = document;
    this.specification = specification;
    this.provider = document.provider;
    this.measurement = document.measurement;
    this.coreVersion = document.core_version;
    this.simulated = document.provider === SIMULATED_PROVIDER;
    this.warning = document.warning;
    this.issuedAtMs = document.issued_at_ms;
    this.kemPublicKey = fromHex(document.kem_public_key);
    this.verifyKey = fromHex(document.signing_public_key);
    Object.freeze(this);
  }

  /** The core's Ed25519 key as a WebCrypto key (for callers that want one). */
  async verifyCryptoKey(): Promise<CryptoKey> {
    return crypto.subtle.importKey("raw", this.verifyKey.slice().buffer as ArrayBuffer, { name: "Ed25519" }, true, [
      "verify",
    ]);
  }
}

export interface VerifyOptions {
  /** The nonce this browser sent (raw bytes). */
  nonce: Uint8Array;
  nowMs?: number;
  maxAgeMs?: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const DOCUMENT_FIELDS: Record<string, (value: unknown) => boolean> = {
  // Not a boolean, exactly 1 (pydantic: int, ge=1, le=1).
  version: (v) => v === 1,
  provider: (v) => typeof v === "string" && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(v),
  measurement: (v) => typeof v === "string" && HEX64.test(v),
  core_version: (v) => typeof v === "string" && /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/.test(v),
  kem_public_key: (v) => typeof v === "string" && HEX64.test(v),
  signing_public_key: (v) => typeof v === "string" && HEX64.test(v),
  nonce: (v) =>
    typeof v === "string" &&
    new RegExp(`^(?:[0-9a-f]{2}){${MIN_NONCE_BYTES},${MAX_NONCE_BYTES}}$`).test(v),
  issued_at_ms: (v) => isSafeInt(v) && v >= 0,
  report_data: (v) => typeof v === "string" && HEX64.test(v),
  evidence: (v) => isObject(v),
  warning: (v) => typeof v === "string" && codePoints(v) <= 1000,
};
const OPTIONAL_FIELDS: Record<string, unknown> = { version: 1, warning: "" };

/** Step 1: parse strictly (no unknown field, exact types, lower-case hex of exact length). */
export function parseAttestationDocument(raw: unknown): AttestationDocument {
  if (!isObject(raw)) throw new AttestationError("malformed attestation document (not a JSON object)");
  const bad = new Set<string>();
  for (const key of Object.keys(raw)) if (!(key in DOCUMENT_FIELDS)) bad.add(key);
  const body: Record<string, unknown> = {};
  for (const [field, valid] of Object.entries(DOCUMENT_FIELDS)) {
    const value = field in raw ? raw[field] : OPTIONAL_FIELDS[field];
    if (value === undefined || !valid(value)) bad.add(field);
    body[field] = value;
  }
  if (bad.size > 0) {
    // Field names only, sorted: the values are untrusted input.
    throw new AttestationError(`malformed attestation document (fields: ${[...bad].sort().join(", ")})`);
  }
  return Object.freeze(body) as unknown as AttestationDocument;
}

/** The hex SHA-256 binding the document's fields into the evidence (compute_report_data). */
export async function computeReportData(document: AttestationDocument): Promise<string> {
  return sha256Hex(
    canonicalJson({
      measurement: document.measurement,
      core_version: document.core_version,
      kem_public_key: document.kem_public_key,
      signing_public_key: document.signing_public_key,
      nonce: document.nonce,
      provider: document.provider,
      issued_at_ms: document.issued_at_ms,
    }),
  );
}

/** Accept `raw` only if it attests a core trusted by `specs` (any "sealroom.core" one), for our
 * nonce; AttestationError naming the failed step otherwise. */
export async function verifyAttestation(
  raw: unknown,
  specs: readonly EnclaveSpecification[],
  options: VerifyOptions,
): Promise<VerifiedAttestation> {
  // 1. Strict parse: a lax parser would let a host smuggle fields or coerced values.
  const document = parseAttestationDocument(raw);

  // 2. A provider the trusted specifications accept: no downgrade to one never agreed to.
  let candidates = specs.filter((spec) => spec.name === CORE_ENCLAVE_NAME);
  if (candidates.length === 0) {
    throw new AttestationError(`no enclave specification for '${CORE_ENCLAVE_NAME}' was given`);
  }
  candidates = candidates.filter((spec) => spec.acceptedProviders.includes(document.provider));
  if (candidates.length === 0) {
    throw new AttestationError(
      `attestation provider '${document.provider}' is not accepted by the specification`,
    );
  }

  // 3. The measurement of trusted code: a server running modified or unknown code is refused.
  const specification = candidates.find((spec) => spec.measurement === document.measurement);
  if (specification === undefined) {
    throw new AttestationError(
      `the core runs code you do not trust: it reports measurement ${document.measurement}, ` +
        `which no specification you trust has (you trust: ${candidates.map(specificationId).sort().join(", ")}). ` +
        `The core states version ${document.core_version} (its own claim).`,
    );
  }

  // 4. Our nonce: a document made for somebody else, or earlier, is a replay.
  if (document.nonce !== toHex(options.nonce)) {
    throw new AttestationError("the attestation document is not for our nonce (replayed)");
  }

  // 5. Fresh: bounds how long a captured document stays usable; none from the future.
  const now = options.nowMs ?? Date.now();
  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (document.issued_at_ms > now + MAX_CLOCK_SKEW_MS) {
    throw new AttestationError("the attestation document is issued in the future (clock skew?)");
  }
  if (now - document.issued_at_ms > maxAge) {
    throw new AttestationError(`the attestation document is older than ${maxAge} ms (stale)`);
  }

  // 6. report_data recomputed: no key can be swapped into a document with genuine evidence.
  const reportData = await computeReportData(document);
  if (reportData !== document.report_data) {
    throw new AttestationError("report_data does not match the document (keys swapped?)");
  }

  // 7. The evidence covers report_data.
  if (document.provider !== SIMULATED_PROVIDER) {
    throw new AttestationError(
      `the core attests with '${document.provider}' evidence, which this browser cannot verify yet ` +
        "(it can only verify simulated evidence): verify the server with the SDK (`sealroom attest URL`)",
    );
  }
  const evidence = document.evidence;
  const signature = evidence["signature"];
  if (Object.keys(evidence).length !== 1 || typeof signature !== "string") {
    throw new AttestationError("simulated evidence must be exactly {'signature': hex}");
  }
  let signatureBytes: Uint8Array;
  try {
    signatureBytes = fromHex(signature);
  } catch {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  const message = new Uint8Array([
    ...new TextEncoder().encode(SIMULATED_EVIDENCE_DOMAIN),
    ...fromHex(reportData),
  ]);
  if (!(await ed25519Verify(fromHex(document.signing_public_key), signatureBytes, message))) {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  return new VerifiedAttestation(TOKEN, document, specification);
}

/** A fresh random nonce (32 bytes, as the SDK's session). */
export function freshNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** Fetch `GET /v1/enclave/attestation?nonce=<hex>` with a fresh nonce (or the one given), verify
 * it, then check the server's pinned keys (trust on first use in this browser). */
export async function attest(
  fetcher: Fetcher,
  specs: readonly EnclaveSpecification[],
  options: { nonce?: Uint8Array; nowMs?: number; memory?: Memory } = {},
): Promise<VerifiedAttestation> {
  const nonce = options.nonce ?? freshNonce();
  const document = await fetcher.json(`/v1/enclave/attestation?nonce=${toHex(nonce)}`);
  const verified = await verifyAttestation(document, specs, {
    nonce,
    ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }),
  });
  checkServerPin(verified, options.memory ?? defaultMemory());
  return verified;
}

// -- pins: trust on first use, then only these keys -------------------------------------------

/** Pin this origin's core keys on first contact; refuse other keys afterwards. localStorage is
 * per origin, so the pin is per server as the browser sees it. */
export function checkServerPin(attested: CoreKeys, memory: Memory = defaultMemory()): void {
  checkPin(memory, memoryKeys.serverPin, attested, "this server", { origin: globalThis.location?.origin ?? "" });
}

/** Pin the core keys of `roomId` on first use; refuse another core for it afterwards (also when
 * only an audit checkpoint or a state version of the room was saved, as the SDK). */
export function checkRoomPin(roomId: string, attested: CoreKeys, memory: Memory = defaultMemory()): void {
  const key = memoryKeys.roomPin(roomId);
  if (memory.getItem(key) === null) {
    for (const earlier of [memoryKeys.checkpoint(roomId), memoryKeys.roomVersion(roomId)]) {
      const record = readRecord(memory, earlier);
      if (record !== null && record["core_public_key"] !== toHex(attested.verifyKey)) {
        throw changed(`room ${roomId}`, earlier);
      }
    }
  }
  checkPin(memory, key, attested, `room ${roomId}`, {});
}

function checkPin(
  memory: Memory,
  key: string,
  attested: CoreKeys,
  what: string,
  extra: Record<string, string>,
): void {
  const current = {
    core_public_key: toHex(attested.verifyKey),
    kem_public_key: toHex(attested.kemPublicKey),
  };
  const stored = readRecord(memory, key);
  if (stored === null) {
    writeRecord(memory, key, { ...extra, ...current });
    return;
  }
  if (typeof stored["core_public_key"] !== "string" || typeof stored["kem_public_key"] !== "string") {
    throw new VerificationError(
      `the pinned core keys of ${what} (${key}) are unreadable; clear this site's data to trust the server afresh`,
    );
  }
  if (stored["core_public_key"] !== current.core_public_key || stored["kem_public_key"] !== current.kem_public_key) {
    throw changed(what, key);
  }
}

function changed(what: string, key: string): VerificationError {
  return new VerificationError(
    `the core of ${what} presents other keys than the ones this browser pinned (${key}): the ` +
      "server may be posing as the core, and nothing was sent. If the operator replaced the core " +
      "on purpose, confirm its new key with them (`sealroom attest`), then clear this site's data",
  );
}
