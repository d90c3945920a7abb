// Known-answer checks and interop helpers for the browser tests (tests/integration/
// test_web_crypto.py loads /static/js/selftest.js in a page of a real server and calls these).
// Nothing here is used by the app; every function runs the app's own modules unchanged.

import * as actions from "../actions";
import { fromBase64, fromBase64Url, fromHex, fromUtf8, toBase64, toHex, utf8 } from "../bytes";
import { canonicalJson, type Json } from "../canonical";
import { ChunkEncryptor, datasetIdOf, encryptBytes, manifestBytes } from "../chunks";
import * as keys from "../keys";
import {
  datasetKeyContext,
  datasetTestKeyContext,
  generateRecipient,
  openSealed,
  recipientFromPrivateBytes,
  resultContext,
  seal,
  statisticsContext,
  type Recipient,
} from "../sealing";
import { encryptAndUpload } from "../upload";

interface ChunkVector {
  name: string;
  key: string;
  salt: string;
  nonce_prefix: string;
  chunk_size: number;
  plaintext: string;
  chunks: { ciphertext: string; sha256: string }[];
  manifest: string;
  dataset_id: string;
}

interface ActionVector {
  builder: string;
  args: Record<string, Json>;
  call: { room_id: string; action: string; arguments: Record<string, string> };
  message: string;
  certificate: string | null;
  header: string;
}

export interface CryptoVectors {
  chunks: ChunkVector[];
  contexts: { kind: string; args: string[]; context: string }[];
  sealed: {
    private_key: string;
    public_key: string;
    messages: { context: string; plaintext: string; sealed: string }[];
  };
  canonical: { value: string; canonical: string }[];
  actions: {
    signing_seed: string;
    public_key: string;
    nonce: string;
    issued_at_ms: number;
    cases: ActionVector[];
  };
  keys: { seed: string; pem: string; public_key: string; fingerprint: string; formatted: string }[];
}

function str(value: Json | undefined): string {
  if (typeof value !== "string") throw new Error("expected a string argument");
  return value;
}

function params(value: Json | undefined): Record<string, string> | null {
  if (value === null || value === undefined) return null;
  return value as Record<string, string>;
}

/** Build an action call the way a page does, from JSON arguments named as in Python (bytes as
 * hex, None as null). */
export async function buildCall(builder: string, a: Record<string, Json>): Promise<actions.ActionCall> {
  const room = str(a["room_id"]);
  switch (builder) {
    case "publish_room":
      return actions.publishRoom(room);
    case "stop_room":
      return actions.stopRoom(room);
    case "publish_dataset":
      return actions.publishDataset(
        room,
        str(a["node"]),
        str(a["dataset_id"]),
        fromHex(str(a["sealed_key"])),
        a["replace_passing"] === true,
        a["replaces"] === undefined ? undefined : str(a["replaces"]),
      );
    case "remove_dataset":
      return actions.removeDataset(room, str(a["node"]));
    case "retrieve_validation_report":
      return actions.retrieveValidationReport(room, str(a["node"]));
    case "run_computation":
      return actions.runComputation(
        room,
        str(a["node"]),
        params(a["parameters"]),
        fromHex(str(a["recipient_key"])),
      );
    case "run_development":
      return actions.runDevelopment(
        room,
        a["node"] as Json,
        params(a["parameters"]),
        fromHex(str(a["recipient_key"])),
      );
    case "preview_request":
      return actions.previewRequest(
        room,
        str(a["request_id"]),
        params(a["parameters"]),
        fromHex(str(a["recipient_key"])),
      );
    case "retrieve_result":
      return actions.retrieveResult(
        room,
        str(a["job_id"]),
        fromHex(str(a["recipient_key"])),
        a["result_format"] === null ? null : str(a["result_format"]),
      );
    case "retrieve_dataset_statistics":
      return actions.retrieveDatasetStatistics(room, str(a["node"]), fromHex(str(a["recipient_key"])));
    case "share_dataset_statistics":
      return actions.shareDatasetStatistics(
        room,
        str(a["node"]),
        str(a["dataset_id"]),
        a["shared"] === true,
      );
    case "submit_request":
      return actions.submitRequest(room, a["commit"] as Json);
    case "approve_request":
      return actions.approveRequest(room, str(a["request_id"]));
    case "reject_request":
      return actions.rejectRequest(room, str(a["request_id"]), str(a["reason"]));
    case "integrate_request":
      return actions.integrateRequest(room, str(a["request_id"]));
    default:
      throw new Error(`no builder ${builder}`);
  }
}

const ED25519_PKCS8_PREFIX = "302e020100300506032b657004220420";

async function signingKeyFromSeed(seedHex: string, extractable = false): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "pkcs8",
    fromHex(ED25519_PKCS8_PREFIX + seedHex).buffer as ArrayBuffer,
    { name: "Ed25519" },
    extractable,
    ["sign"],
  );
}

function contextOf(kind: string, args: string[]): Uint8Array {
  const [a = "", b = "", c = "", d = ""] = args;
  switch (kind) {
    case "dataset_key":
      return datasetKeyContext(a, b, c);
    case "dataset_test_key":
      return datasetTestKeyContext(a, b, c, d);
    case "result":
      return resultContext(a, b, c);
    case "statistics":
      return statisticsContext(a, b, c);
    default:
      throw new Error(`no context ${kind}`);
  }
}

/** Recompute every vector; the list of mismatches (empty: the browser agrees with Python). */
export async function cryptoKnownAnswers(vectors: CryptoVectors): Promise<string[]> {
  const bad: string[] = [];
  const check = (what: string, got: string, want: string): void => {
    if (got !== want) bad.push(`${what}: got ${got.slice(0, 200)}, want ${want.slice(0, 200)}`);
  };
  const attempt = async (what: string, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      bad.push(`${what}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  for (const v of vectors.chunks) {
    await attempt(`chunks[${v.name}]`, async () => {
      const encryptor = ChunkEncryptor.withFixedRandomness(
        fromHex(v.key),
        v.chunk_size,
        fromHex(v.salt),
        fromHex(v.nonce_prefix),
      );
      const { manifest, chunks } = await encryptBytes(
        fromHex(v.key),
        fromHex(v.plaintext),
        v.chunk_size,
        encryptor,
      );
      check(`chunks[${v.name}] count`, String(chunks.length), String(v.chunks.length));
      chunks.forEach((chunk, i) => {
        check(`chunks[${v.name}][${i}] ciphertext`, toHex(chunk.ciphertext), v.chunks[i]?.ciphertext ?? "");
        check(`chunks[${v.name}][${i}] sha256`, chunk.sha256, v.chunks[i]?.sha256 ?? "");
      });
      check(`chunks[${v.name}] manifest`, fromUtf8(manifestBytes(manifest)), v.manifest);
      check(`chunks[${v.name}] dataset id`, await datasetIdOf(manifest), v.dataset_id);
      check(`chunks[${v.name}] encryptor id`, await encryptor.datasetId(), v.dataset_id);
    });
  }

  for (const [i, v] of vectors.contexts.entries()) {
    await attempt(`contexts[${i}]`, async () => {
      check(`contexts[${i}] ${v.kind}`, fromUtf8(contextOf(v.kind, v.args)), v.context);
    });
  }

  const recipient = await recipientFromPrivateBytes(fromHex(vectors.sealed.private_key));
  check("sealed public key", toHex(recipient.publicKeyRaw), vectors.sealed.public_key);
  for (const [i, m] of vectors.sealed.messages.entries()) {
    await attempt(`sealed[${i}]`, async () => {
      const opened = await openSealed(recipient, fromHex(m.sealed), utf8(m.context));
      check(`sealed[${i}] plaintext`, toHex(opened), m.plaintext);
      // The attacker's view: another context, a flipped byte, a truncation all fail.
      for (const [label, sealed, context] of [
        ["other context", fromHex(m.sealed), utf8(`${m.context} `)],
        ["flipped byte", flip(fromHex(m.sealed), 40), utf8(m.context)],
        ["truncated", fromHex(m.sealed).subarray(0, 48), utf8(m.context)],
      ] as const) {
        try {
          await openSealed(recipient, sealed, context);
          bad.push(`sealed[${i}] opened with ${label}`);
        } catch {
          // refused, as it must be
        }
      }
    });
  }

  for (const [i, v] of vectors.canonical.entries()) {
    await attempt(`canonical[${i}]`, async () => {
      check(`canonical[${i}]`, toHex(canonicalJson(JSON.parse(v.value) as Json)), v.canonical);
    });
  }

  await attempt("actions", async () => {
    const a = vectors.actions;
    const key = await signingKeyFromSeed(a.signing_seed);
    const publicKey = fromHex(a.public_key);
    for (const [i, v] of a.cases.entries()) {
      const what = `actions[${i}] ${v.builder}`;
      const built = await buildCall(v.builder, v.args);
      check(`${what} room`, built.roomId, v.call.room_id);
      check(`${what} action`, built.action, v.call.action);
      check(
        `${what} arguments`,
        fromUtf8(canonicalJson({ ...built.arguments })),
        fromUtf8(canonicalJson(v.call.arguments)),
      );
      check(`${what} message`, toHex(actions.actionMessage(built, publicKey, a.nonce, a.issued_at_ms)), v.message);
      const header = await actions.signActionWithNonce(
        key,
        publicKey,
        built,
        a.issued_at_ms,
        a.nonce,
        v.certificate === null ? null : fromHex(v.certificate),
      );
      check(`${what} header`, header, v.header);
    }
  });

  for (const [i, v] of vectors.keys.entries()) {
    await attempt(`keys[${i}]`, async () => {
      const der = keys.pkcs8FromPem(v.pem);
      check(`keys[${i}] pkcs8 seed`, toHex(der.subarray(16)), v.seed);
      const extractable = await signingKeyFromSeed(v.seed, true);
      const exported = new Uint8Array(await crypto.subtle.exportKey("pkcs8", extractable));
      check(`keys[${i}] pem`, keys.pemFromPkcs8(exported), v.pem);
      const jwk = await crypto.subtle.exportKey("jwk", extractable);
      const publicKey = toHex(fromBase64Url(jwk.x ?? ""));
      check(`keys[${i}] public key`, publicKey, v.public_key);
      check(`keys[${i}] fingerprint`, await keys.fingerprint(fromHex(v.public_key)), v.fingerprint);
      check(`keys[${i}] formatted`, keys.formatFingerprint(v.fingerprint), v.formatted);
    });
  }
  return bad;
}

function flip(data: Uint8Array, index: number): Uint8Array {
  const out = data.slice();
  out[index] = out[index]! ^ 0x01;
  return out;
}

// -- interop helpers (Python on the other side) --------------------------------------------

/** Seal for Python to open: base64 of the sealed message. */
export async function sealFor(publicKeyHex: string, plaintextB64: string, contextB64: string): Promise<string> {
  return toBase64(await seal(fromHex(publicKeyHex), fromBase64(plaintextB64), fromBase64(contextB64)));
}

const recipients = new Map<string, Recipient>();

/** A fresh non-extractable recipient kept in this page; its id and raw public key (hex). */
export async function newRecipient(): Promise<{ id: string; publicKeyHex: string; extractable: boolean }> {
  const recipient = await generateRecipient();
  const id = toHex(crypto.getRandomValues(new Uint8Array(8)));
  recipients.set(id, recipient);
  return { id, publicKeyHex: toHex(recipient.publicKeyRaw), extractable: recipient.privateKey.extractable };
}

/** Open what Python sealed to a recipient of newRecipient: base64 plaintext, or throws. */
export async function openForRecipient(id: string, sealedB64: string, contextB64: string): Promise<string> {
  const recipient = recipients.get(id);
  if (recipient === undefined) throw new Error("no such recipient in this page");
  return toBase64(await openSealed(recipient, fromBase64(sealedB64), fromBase64(contextB64)));
}

/** Encrypt with the app's chunk encryptor (random salt): manifest text and chunks (base64). */
export async function encryptForTest(
  keyHex: string,
  chunkSize: number,
  plaintextB64: string,
): Promise<{ manifest: string; datasetId: string; chunks: string[] }> {
  const { manifest, chunks } = await encryptBytes(fromHex(keyHex), fromBase64(plaintextB64), chunkSize);
  return {
    manifest: fromUtf8(manifestBytes(manifest)),
    datasetId: await datasetIdOf(manifest),
    chunks: chunks.map((chunk) => toBase64(chunk.ciphertext)),
  };
}

/** Import a PEM (as `sealroom keys export` writes) for `email`, then sign `call` with the stored
 * non-extractable key. */
export async function signWithImportedPem(
  email: string,
  pem: string,
  builder: string,
  args: Record<string, Json>,
): Promise<{ header: string; fingerprint: string; extractable: boolean }> {
  const stored = await keys.importPem(email, pem, { replace: true });
  const header = await actions.signAction(
    stored.privateKey,
    stored.publicKeyRaw,
    await buildCall(builder, args),
    Date.now(),
  );
  return { header, fingerprint: stored.fingerprint, extractable: stored.privateKey.extractable };
}

/** Create a key for `email` as the app does; the one-time backup PEM and the key's facts. */
export async function createKeyForTest(
  email: string,
): Promise<{ backupPem: string; fingerprint: string; publicKeyHex: string; extractable: boolean }> {
  const { key, backupPem } = await keys.createKey(email, { replace: true });
  return {
    backupPem,
    fingerprint: key.fingerprint,
    publicKeyHex: toHex(key.publicKeyRaw),
    extractable: key.privateKey.extractable,
  };
}

/** What IndexedDB holds for `email` (after a reload, say); null if nothing. */
export async function storedKeyFacts(email: string): Promise<{
  fingerprint: string;
  publicKeyHex: string;
  extractable: boolean;
  algorithm: string;
  usages: string[];
  exportRefused: boolean;
} | null> {
  const key = await keys.loadKey(email);
  if (key === null) return null;
  let exportRefused = false;
  try {
    await crypto.subtle.exportKey("pkcs8", key.privateKey);
  } catch {
    exportRefused = true;
  }
  return {
    fingerprint: key.fingerprint,
    publicKeyHex: toHex(key.publicKeyRaw),
    extractable: key.privateKey.extractable,
    algorithm: key.privateKey.algorithm.name,
    usages: [...key.privateKey.usages],
    exportRefused,
  };
}

/** Sign a call with the key stored for `email`, as a page does (certificate per the room). */
export async function signStored(
  email: string,
  builder: string,
  args: Record<string, Json>,
  room: keys.RoomIdentities | null,
  headers: Record<string, string>,
): Promise<string> {
  const signer = await keys.participantSigner(email, { headers });
  return signer.prove(buildCall(builder, args), room);
}

/** Encrypt and upload bytes through the worker, as the app does; progress events collected. */
export async function uploadForTest(
  dataB64: string,
  headers: Record<string, string>,
  chunkSize: number,
  name: string,
): Promise<{
  datasetId: string;
  keyHex: string;
  manifest: string;
  size: number;
  progress: [number, number][];
}> {
  const progress: [number, number][] = [];
  const file = new File([fromBase64(dataB64).slice().buffer as ArrayBuffer], name);
  const uploaded = await encryptAndUpload(file, {
    headers,
    chunkSize,
    name,
    onProgress: (done, total) => progress.push([done, total]),
  });
  return {
    datasetId: uploaded.datasetId,
    keyHex: toHex(uploaded.key),
    manifest: uploaded.manifest,
    size: uploaded.size,
    progress,
  };
}
