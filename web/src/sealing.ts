// Sealing: HPKE (RFC 9180, base mode) byte for byte as src/sealroom/crypto/sealing.py.
//
// Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, all through WebCrypto (the
// @hpke/core implementation of X25519 calls crypto.subtle, so a recipient's private key can be a
// non-extractable CryptoKey). Wire format (version 1):
//
//     0x01 || enc (32 bytes, the ephemeral X25519 public key) || AES-256-GCM ciphertext || tag (16)
//
// Invariants:
// * Every sealed message is bound to a context (canonical JSON naming its purpose and objects),
//   passed as HPKE `info`; build contexts only with the *Context functions below, which give each
//   purpose its own domain exactly as the Python ones do (tests/vectors/web/crypto.json pins them).
// * openSealed throws one and the same error for every failure (wrong key, wrong context,
//   truncated, tampered, bad version), so it cannot serve as an oracle.
// * A recipient key made by generateRecipient is non-extractable: its private half never leaves
//   WebCrypto, only the raw 32-byte public key is meant for the server.

import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";

import { buffer, concat } from "./bytes";
import { canonicalJson } from "./canonical";

export const KEM_KEY_SIZE = 32;
const VERSION_X25519_SHA256_AES256GCM = 0x01;
const ENC_SIZE = 32;
const TAG_SIZE = 16;
/** Bytes a sealed message adds to its plaintext. */
export const SEALED_OVERHEAD = 1 + ENC_SIZE + TAG_SIZE;

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

/** An X25519 key pair that sealed messages can be opened with (its private half may be
 * non-extractable), with the raw public key to hand to whoever seals. */
export interface Recipient extends CryptoKeyPair {
  readonly publicKeyRaw: Uint8Array;
}

/** What openSealed accepts: a Recipient, any X25519 CryptoKeyPair, or a bare private key (its
 * public half is then derived, which needs an extractable key or X25519 deriveBits). */
export type KemKeyPair = Recipient | CryptoKeyPair;

/** A fresh recipient whose private key is non-extractable (WebCrypto X25519). */
export async function generateRecipient(): Promise<Recipient> {
  const pair = (await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyRaw };
}

/** A recipient from raw private bytes (as KemPrivateKey.to_bytes): for known-answer tests and
 * keys that already exist elsewhere; a fresh key should come from generateRecipient. */
export async function recipientFromPrivateBytes(
  raw: Uint8Array,
  extractable = false,
): Promise<Recipient> {
  if (raw.length !== KEM_KEY_SIZE) throw new Error(`an X25519 private key is ${KEM_KEY_SIZE} bytes`);
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410): fixed 16-byte prefix.
  const prefix = Uint8Array.from([
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
  ]);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    buffer(concat(prefix, raw)),
    { name: "X25519" },
    extractable,
    ["deriveBits"],
  );
  const publicKey = await derivePublicKey(privateKey);
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return { privateKey, publicKey, publicKeyRaw };
}

/** Encrypt `plaintext` to the raw X25519 `publicKeyRaw`, bound to `context` (from a *Context).
 * Refuses keys of the wrong size and low-order points (WebCrypto refuses the all-zero secret). */
export async function seal(
  publicKeyRaw: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
): Promise<Uint8Array> {
  if (publicKeyRaw.length !== KEM_KEY_SIZE) {
    throw new Error(`an X25519 public key is ${KEM_KEY_SIZE} bytes`);
  }
  let recipientPublicKey: CryptoKey;
  try {
    recipientPublicKey = await crypto.subtle.importKey(
      "raw",
      buffer(publicKeyRaw),
      { name: "X25519" },
      true,
      [],
    );
  } catch {
    throw new Error("not an X25519 public key");
  }
  let sealed: { enc: ArrayBuffer; ct: ArrayBuffer };
  try {
    sealed = await suite.seal({ recipientPublicKey, info: buffer(context) }, buffer(plaintext));
  } catch {
    // The only way a well-formed 32-byte key fails here is a low-order point (zero secret).
    throw new Error("cannot seal to this X25519 public key (a low-order point?)");
  }
  return concat(
    Uint8Array.of(VERSION_X25519_SHA256_AES256GCM),
    new Uint8Array(sealed.enc),
    new Uint8Array(sealed.ct),
  );
}

/** Open a message sealed to `recipient` under exactly `context`. Throws the same Error for any
 * failure, deliberately without saying which. */
export async function openSealed(
  recipient: KemKeyPair | CryptoKey,
  sealed: Uint8Array,
  context: Uint8Array,
): Promise<Uint8Array> {
  const failure = new Error("sealed message could not be opened (wrong key, context or tampered)");
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== VERSION_X25519_SHA256_AES256GCM) {
    throw failure;
  }
  try {
    const recipientKey: CryptoKeyPair =
      recipient instanceof CryptoKey
        ? { privateKey: recipient, publicKey: await derivePublicKey(recipient) }
        : { privateKey: recipient.privateKey, publicKey: recipient.publicKey };
    const plaintext = await suite.open(
      { recipientKey, enc: buffer(sealed.subarray(1, 1 + ENC_SIZE)), info: buffer(context) },
      buffer(sealed.subarray(1 + ENC_SIZE)),
    );
    return new Uint8Array(plaintext);
  } catch {
    throw failure;
  }
}

// X25519 public key of a private CryptoKey, extractable or not: the shared secret with the base
// point (u = 9) is the public key itself.
async function derivePublicKey(privateKey: CryptoKey): Promise<CryptoKey> {
  const basePoint = new Uint8Array(KEM_KEY_SIZE);
  basePoint[0] = 9;
  const base = await crypto.subtle.importKey("raw", buffer(basePoint), { name: "X25519" }, true, []);
  const raw = await crypto.subtle.deriveBits(
    { name: "X25519", public: base },
    privateKey,
    KEM_KEY_SIZE * 8,
  );
  return crypto.subtle.importKey("raw", raw, { name: "X25519" }, true, []);
}

/** Context for a dataset key *published* to one data node of one room. */
export function datasetKeyContext(roomId: string, nodeId: string, datasetId: string): Uint8Array {
  return context("sealroom/dataset-key/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId,
  });
}

/** Context for a dataset key lent to one test run of a draft (never to a room). */
export function datasetTestKeyContext(
  draftId: string,
  nodeId: string,
  datasetId: string,
  testRun: string,
): Uint8Array {
  return context("sealroom/test-dataset-key/v1", {
    draft_id: draftId,
    node_id: nodeId,
    dataset_id: datasetId,
    test_run: testRun,
  });
}

/** Context for a job's result sealed to the analyst's key named at submission. */
export function resultContext(roomId: string, jobId: string, resultFormat: string): Uint8Array {
  return context("sealroom/job-result/v2", {
    room_id: roomId,
    job_id: jobId,
    result_format: resultFormat,
  });
}

/** Context for a dataset's summary statistics sealed to a participant's key. */
export function statisticsContext(roomId: string, nodeId: string, datasetId: string): Uint8Array {
  return context("sealroom/dataset-statistics/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId,
  });
}

function context(purpose: string, fields: Record<string, string>): Uint8Array {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== "string" || value === "") {
      throw new Error(`sealing context field '${name}' must be a non-empty string`);
    }
  }
  return canonicalJson({ purpose, ...fields });
}
