// The participant's Ed25519 signing key in this browser, the counterpart of the SDK's
// ParticipantKeys (src/sealroom/client/_identity.py):
//
// * generated with WebCrypto and stored NON-EXTRACTABLE in IndexedDB, one key per e-mail address
//   (IndexedDB is per origin, so per server as well): script on the page can sign with it but no
//   script, extension of the page or server can read it out;
// * a backup exists only at creation: the key is generated extractable, exported once as PKCS#8
//   PEM (the format of SigningKey.to_pem, which `sealroom keys import` accepts), then re-imported
//   non-extractable, and only that copy is stored;
// * importPem takes the SDK's key (`sealroom keys export`) and stores it non-extractable;
// * the fingerprint is key_fingerprint of src/sealroom/model/identities.py: SHA-256 of the raw
//   public key, hex;
// * certificates from the platform CA (POST /v1/pki/certificates) are stored next to the key,
//   per root fingerprint, and dropped when the key changes.
//
// Which certificate a room needs is decided as Session._certificate in the SDK: none for a
// pinned key; for a trust root, a kept certificate of the current key from that root, or — for
// the operator's root only — one asked for now.

import { type ActionCall, signAction } from "./actions";
import { buffer, fromBase64, fromBase64Url, sha256Hex, toBase64, toHex } from "./bytes";

const DB_NAME = "sealroom-keys";
const DB_VERSION = 1;
const STORE = "signing-keys";
/** A certificate is renewed when less than this is left (as RENEW_BEFORE_MS in the SDK). */
const RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;
// RFC 8410 PKCS#8 prefix of an Ed25519 private key (the seed follows): what SigningKey.to_pem
// writes and WebCrypto exports.
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export interface StoredCertificate {
  /** DER of the certificate. */
  der: Uint8Array;
  notAfterMs: number;
}

/** What IndexedDB holds for one address. */
export interface StoredKey {
  email: string;
  /** Ed25519 private key, non-extractable. */
  privateKey: CryptoKey;
  publicKeyRaw: Uint8Array;
  fingerprint: string;
  createdAtMs: number;
  /** By root fingerprint (64 hex). */
  certificates: Record<string, StoredCertificate>;
}

/** The identities part of a room definition (RoomDefinition JSON). */
export interface RoomIdentities {
  identities?: ReadonlyArray<{ email: string; key?: string | null; root?: string | null }>;
  trust_roots?: ReadonlyArray<{ name: string; certificate: string; operator?: boolean }>;
}

export class NoKeyError extends Error {
  constructor(email: string) {
    super(
      `this browser holds no signing key for ${email}: create one (and keep its backup) or ` +
        "import the SDK's (`sealroom keys export`)",
    );
    this.name = "NoKeyError";
  }
}

/** The one spelling of an address every comparison uses (normalise_email). */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** key_fingerprint: SHA-256 of the raw Ed25519 public key, lower-case hex. */
export function fingerprint(publicKeyRaw: Uint8Array): Promise<string> {
  return sha256Hex(publicKeyRaw);
}

/** The fingerprint in groups of four, for reading aloud (format_fingerprint). */
export function formatFingerprint(fingerprintHex: string): string {
  return (fingerprintHex.match(/.{1,4}/g) ?? []).join(" ");
}

// -- PEM ------------------------------------------------------------------------------------

/** PKCS#8 DER as PEM, exactly as `cryptography` writes it (64-character lines, final newline). */
export function pemFromPkcs8(der: Uint8Array): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** The PKCS#8 DER of an unencrypted Ed25519 PEM private key; throws for anything else. */
export function pkcs8FromPem(pem: string): Uint8Array {
  const match = /^\s*-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/.exec(
    pem,
  );
  if (match === null) throw new Error("not an unencrypted PEM private key");
  const der = fromBase64(match[1]!.replace(/\s+/g, ""));
  const prefixOk =
    der.length === ED25519_PKCS8_PREFIX.length + 32 &&
    ED25519_PKCS8_PREFIX.every((byte, i) => der[i] === byte);
  if (!prefixOk) throw new Error("not an Ed25519 private key");
  return der;
}

async function importPkcs8(der: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", buffer(der), { name: "Ed25519" }, extractable, ["sign"]);
}

/** The raw public key of an extractable private key (via JWK: x is the public key). */
async function publicKeyOf(privateKey: CryptoKey): Promise<Uint8Array> {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new Error("not an Ed25519 key");
  return fromBase64Url(jwk.x);
}

// -- the store ------------------------------------------------------------------------------

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(STORE, { keyPath: "email" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB is unavailable"));
  });
}

async function transact<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}

/** The key this browser holds for `email`, or null. */
export async function loadKey(email: string): Promise<StoredKey | null> {
  const address = normaliseEmail(email);
  const found = await transact<StoredKey | undefined>("readonly", (store) => store.get(address));
  return found ?? null;
}

async function storeKey(record: StoredKey): Promise<void> {
  await transact("readwrite", (store) => store.put(record));
}

/** Forget the key of `email` in this browser (its backup, if any, is the only copy left). */
export async function deleteKey(email: string): Promise<void> {
  await transact("readwrite", (store) => store.delete(normaliseEmail(email)));
}

async function keep(
  email: string,
  extractableKey: CryptoKey,
  der: Uint8Array,
  replace: boolean,
): Promise<StoredKey> {
  const address = normaliseEmail(email);
  if (!replace && (await loadKey(address)) !== null) {
    throw new Error(`this browser already holds a signing key for ${address}`);
  }
  const publicKeyRaw = await publicKeyOf(extractableKey);
  // Only the non-extractable copy is ever stored.
  const privateKey = await importPkcs8(der, false);
  const record: StoredKey = {
    email: address,
    privateKey,
    publicKeyRaw,
    fingerprint: await fingerprint(publicKeyRaw),
    createdAtMs: Date.now(),
    certificates: {},
  };
  await storeKey(record);
  return record;
}

/** Make a new key for `email`. `backupPem` is the only export there will ever be: offer it to
 * the user now (it imports with `sealroom keys import`); this browser keeps a non-extractable copy.
 * Refuses to replace an existing key unless `replace`. */
export async function createKey(
  email: string,
  options: { replace?: boolean } = {},
): Promise<{ key: StoredKey; backupPem: string }> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const key = await keep(email, pair.privateKey, der, options.replace ?? false);
    return { key, backupPem: pemFromPkcs8(der) };
  } finally {
    der.fill(0);
  }
}

/** Use the SDK's key (PKCS#8 PEM from `sealroom keys export`) in this browser, non-extractable. */
export async function importPem(
  email: string,
  pem: string,
  options: { replace?: boolean } = {},
): Promise<StoredKey> {
  const der = pkcs8FromPem(pem);
  try {
    const extractable = await importPkcs8(der, true);
    return await keep(email, extractable, der, options.replace ?? false);
  } finally {
    der.fill(0);
  }
}

// -- certificates ---------------------------------------------------------------------------

/** SHA-256 of a PEM certificate's DER, hex (root_fingerprint). */
export async function rootFingerprint(pem: string): Promise<string> {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (match === null) throw new Error("a trust root must be one PEM certificate");
  return sha256Hex(fromBase64(match[1]!.replace(/\s+/g, "")));
}

/** A kept certificate of the current key from the root, valid for a while yet, or null. */
export function keptCertificate(
  key: StoredKey,
  rootFingerprintHex: string,
  nowMs = Date.now(),
): Uint8Array | null {
  const kept = key.certificates[rootFingerprintHex];
  if (kept === undefined || kept.notAfterMs - RENEW_BEFORE_MS < nowMs) return null;
  return kept.der;
}

export interface RequestContext {
  /** Headers for the API (the page's CSRF token; a bearer token in tests). */
  headers?: Record<string, string>;
  /** The server's origin; the page's own by default. */
  baseUrl?: string;
}

async function api<T>(path: string, context: RequestContext, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...(context.headers ?? {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch((context.baseUrl ?? "") + path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    credentials: "same-origin",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = ((await response.json()) as { detail?: string }).detail ?? detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(`${path}: ${detail}`);
  }
  return (await response.json()) as T;
}

/** A certificate of `key` from the platform CA whose fingerprint is `rootFingerprintHex` — kept,
 * or asked for now — or null if the server's CA is another one (as Client.platform_certificate).
 * The browser does not parse X.509: it checks the server's answer names this key's fingerprint;
 * the core verifies the certificate itself against the room's root before believing it. */
export async function platformCertificate(
  key: StoredKey,
  rootFingerprintHex: string,
  context: RequestContext = {},
): Promise<Uint8Array | null> {
  const kept = keptCertificate(key, rootFingerprintHex);
  if (kept !== null) return kept;
  const root = await api<{ certificate: string; fingerprint: string }>("/v1/pki/root", context);
  if ((await rootFingerprint(root.certificate)) !== rootFingerprintHex) return null;
  const issued = await api<{ certificate: string; not_after_ms: number; fingerprint: string }>(
    "/v1/pki/certificates",
    context,
    { public_key: toHex(key.publicKeyRaw) },
  );
  if (issued.fingerprint !== key.fingerprint) {
    throw new Error("the platform's CA answered with a certificate of another key than yours");
  }
  const der = fromBase64(issued.certificate);
  const current = await loadKey(key.email);
  if (current !== null && current.fingerprint === key.fingerprint) {
    current.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
    await storeKey(current);
  }
  key.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
  return der;
}

/** The certificate `room` needs with this key's signatures, or null (a pinned key, or the room
 * does not say: the core will then refuse and say why) — as Session._certificate. */
export async function certificateFor(
  key: StoredKey,
  room: RoomIdentities | null | undefined,
  context: RequestContext = {},
): Promise<Uint8Array | null> {
  if (!room) return null;
  const identity = (room.identities ?? []).find(
    (item) => normaliseEmail(item.email) === key.email,
  );
  if (identity === undefined || !identity.root) return null;
  const root = (room.trust_roots ?? []).find((item) => item.name === identity.root);
  if (root === undefined) return null;
  const rootFp = await rootFingerprint(root.certificate);
  let certificate = keptCertificate(key, rootFp);
  if (certificate === null && root.operator) {
    certificate = await platformCertificate(key, rootFp, context);
  }
  if (certificate === null) {
    throw new Error(
      `this room recognises you by certificates from its trust root '${root.name}' ` +
        `(fingerprint ${formatFingerprint(rootFp.slice(0, 16))} …), and this browser has none ` +
        "for your key: ask that CA for one",
    );
  }
  return certificate;
}

/** Signs the user's actions: what pages use. */
export interface Signer {
  readonly email: string;
  readonly fingerprint: string;
  readonly publicKeyRaw: Uint8Array;
  /** The Sealroom-Proof header for `call` (made now), with the certificate `room` needs. */
  prove(call: ActionCall | PromiseLike<ActionCall>, room?: RoomIdentities | null): Promise<string>;
}

function pageHeaders(): Record<string, string> {
  if (typeof document === "undefined") return {};
  const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content;
  return token ? { "X-CSRF-Token": token } : {};
}

/** The signer of `email`'s key in this browser; NoKeyError if there is none. Requests for a
 * certificate carry `context.headers` (by default the page's CSRF token). */
export async function participantSigner(
  email: string,
  context: RequestContext = {},
): Promise<Signer> {
  const key = await loadKey(email);
  if (key === null) throw new NoKeyError(normaliseEmail(email));
  const requests: RequestContext = { ...context, headers: context.headers ?? pageHeaders() };
  return {
    email: key.email,
    fingerprint: key.fingerprint,
    publicKeyRaw: key.publicKeyRaw,
    async prove(call, room) {
      const resolved = await call;
      const certificate = await certificateFor(key, room, requests);
      return signAction(key.privateKey, key.publicKeyRaw, resolved, Date.now(), certificate);
    },
  };
}
