// A participant's signature of an action, byte for byte as src/sealroom/model/signed_actions.py:
//
//   message = "sealroom/participant-action/v1" || canonical_json({
//                 "room_id", "action", "arguments": {name: text},
//                 "nonce": 32 hex, "issued_at_ms": int, "public_key": 64 hex})
//
// and the Sealroom-Proof header = base64url (no padding) of canonical JSON of
// {public_key, certificate (base64 DER or null), nonce, issued_at_ms, signature (128 hex)}.
//
// Invariants: every builder below produces the same action name and the same argument names and
// encodings as its Python namesake (tests/vectors/web/crypto.json pins each one), because the core
// rebuilds the call from what it received and a single differing byte breaks the signature. A
// proof carries a fresh random nonce; the core refuses a nonce it has seen.

import { buffer, concat, fromUtf8, sha256Hex, toBase64, toBase64Url, toHex, utf8 } from "./bytes";
import { canonicalJson, type Json } from "./canonical";

export const PURPOSE = utf8("sealroom/participant-action/v1");
/** The HTTP header that carries a proof. */
export const PROOF_HEADER = "Sealroom-Proof";

/** An action on a room with the arguments a signature covers. */
export interface ActionCall {
  readonly roomId: string;
  readonly action: string;
  readonly arguments: Readonly<Record<string, string>>;
}

function call(roomId: string, action: string, args: Record<string, string> = {}): ActionCall {
  return { roomId, action, arguments: args };
}

/** The bytes a proof signs. */
export function actionMessage(
  actionCall: ActionCall,
  publicKeyRaw: Uint8Array,
  nonce: string,
  issuedAtMs: number,
): Uint8Array {
  return concat(
    PURPOSE,
    canonicalJson({
      room_id: actionCall.roomId,
      action: actionCall.action,
      arguments: { ...actionCall.arguments },
      nonce,
      issued_at_ms: issuedAtMs,
      public_key: toHex(publicKeyRaw),
    }),
  );
}

/** The Sealroom-Proof header for `actionCall`, signed now with a fresh nonce.
 * `key` is the participant's Ed25519 private CryptoKey (non-extractable is fine). */
export async function signAction(
  key: CryptoKey,
  publicKeyRaw: Uint8Array,
  actionCall: ActionCall,
  nowMs: number,
  certificate?: Uint8Array | null,
): Promise<string> {
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  return signActionWithNonce(key, publicKeyRaw, actionCall, nowMs, nonce, certificate ?? null);
}

/** signAction with a given nonce: for known-answer tests only (a nonce must never repeat). */
export async function signActionWithNonce(
  key: CryptoKey,
  publicKeyRaw: Uint8Array,
  actionCall: ActionCall,
  nowMs: number,
  nonce: string,
  certificate: Uint8Array | null,
): Promise<string> {
  if (publicKeyRaw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  if (!/^[0-9a-f]{32}$/.test(nonce)) throw new Error("a nonce is 32 lower-case hex digits");
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new Error("the time must be ms since 1970");
  const message = actionMessage(actionCall, publicKeyRaw, nonce, nowMs);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key, buffer(message)),
  );
  return proofHeader(publicKeyRaw, certificate, nonce, nowMs, signature);
}

/** The header text of a proof (ActionProof.to_header). */
export function proofHeader(
  publicKeyRaw: Uint8Array,
  certificate: Uint8Array | null,
  nonce: string,
  issuedAtMs: number,
  signature: Uint8Array,
): string {
  const body: Json = {
    public_key: toHex(publicKeyRaw),
    certificate: certificate === null ? null : toBase64(certificate),
    nonce,
    issued_at_ms: issuedAtMs,
    signature: toHex(signature),
  };
  return toBase64Url(canonicalJson(body));
}

// -- the calls (one per builder of signed_actions.py, same order) ---------------------------

/** The owner publishes the room whose definition hashes to `roomId`. */
export function publishRoom(roomId: string): ActionCall {
  return call(roomId, "publish_room");
}

export function stopRoom(roomId: string): ActionCall {
  return call(roomId, "stop_room");
}

/** `replacePassing`: whether a dataset that fails validation still replaces one that passed.
 * `replaces`: publish only if the node's dataset is still this one ("" for none); absent, the
 * parameters are those they always were. */
export async function publishDataset(
  roomId: string,
  node: string,
  datasetId: string,
  sealedKey: Uint8Array,
  replacePassing: boolean,
  replaces?: string,
): Promise<ActionCall> {
  return call(roomId, "publish_dataset", {
    node,
    dataset_id: datasetId,
    sealed_key: await sha256Hex(sealedKey),
    replace_passing: replacePassing ? "true" : "false",
    ...(replaces === undefined ? {} : { replaces }),
  });
}

export function removeDataset(roomId: string, node: string): ActionCall {
  return call(roomId, "remove_dataset", { node });
}

export function retrieveValidationReport(roomId: string, node: string): ActionCall {
  return call(roomId, "retrieve_validation_report", { node });
}

export function runComputation(
  roomId: string,
  node: string,
  parameters: Record<string, string> | null,
  recipientKey: Uint8Array,
): ActionCall {
  return call(roomId, "run_computation", {
    node,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey),
  });
}

/** A development run of `node` (its JSON, as sent), covered by its canonical hash. */
export async function runDevelopment(
  roomId: string,
  node: Json,
  parameters: Record<string, string> | null,
  recipientKey: Uint8Array,
): Promise<ActionCall> {
  return call(roomId, "run_development", {
    node: await sha256Hex(canonicalJson(node)),
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey),
  });
}

export function previewRequest(
  roomId: string,
  requestId: string,
  parameters: Record<string, string> | null,
  recipientKey: Uint8Array,
): ActionCall {
  return call(roomId, "preview_request", {
    request_id: requestId,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey),
  });
}

export function retrieveResult(
  roomId: string,
  jobId: string,
  recipientKey: Uint8Array,
  resultFormat: string | null,
): ActionCall {
  return call(roomId, "retrieve_result", {
    job_id: jobId,
    recipient_key: toHex(recipientKey),
    format: resultFormat ?? "",
  });
}

export function retrieveDatasetStatistics(
  roomId: string,
  node: string,
  recipientKey: Uint8Array,
): ActionCall {
  return call(roomId, "retrieve_dataset_statistics", { node, recipient_key: toHex(recipientKey) });
}

/** Sharing (or no longer sharing) the statistics of `datasetId` — that dataset only. */
export function shareDatasetStatistics(
  roomId: string,
  node: string,
  datasetId: string,
  shared: boolean,
): ActionCall {
  return call(roomId, "share_dataset_statistics", {
    node,
    dataset_id: datasetId,
    shared: shared ? "true" : "false",
  });
}

/** Submitting the commit `commit` (its JSON, as sent), covered by its canonical hash. */
export async function submitRequest(roomId: string, commit: Json): Promise<ActionCall> {
  return call(roomId, "submit_request", { commit: await sha256Hex(canonicalJson(commit)) });
}

/** Approving the request `requestId` (its commit's id: the hash of the reviewed change). */
export function approveRequest(roomId: string, requestId: string): ActionCall {
  return call(roomId, "approve_request", { request_id: requestId });
}

/** Rejecting a request, or withdrawing one's own. */
export function rejectRequest(roomId: string, requestId: string, reason: string): ActionCall {
  return call(roomId, "reject_request", { request_id: requestId, reason });
}

export function integrateRequest(roomId: string, requestId: string): ActionCall {
  return call(roomId, "integrate_request", { request_id: requestId });
}

function encodeParameters(parameters: Record<string, string> | null): string {
  const values: Record<string, Json> = {};
  for (const [name, value] of Object.entries(parameters ?? {})) {
    if (typeof value !== "string") throw new Error(`parameter ${name} must be a string`);
    values[name] = value;
  }
  return fromUtf8(canonicalJson(values));
}
