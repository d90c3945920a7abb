// What the verifiers share: their errors, Ed25519 signatures checked with WebCrypto, the way they
// reach the API (a fetcher the caller builds, so that tests can send a bearer token and the page
// its cookie), and where this browser remembers what it verified (localStorage, per origin).
//
// Invariants: a verifier never returns on a failed check, it throws VerificationError (or
// AttestationError) naming the check, never quoting untrusted input at length; signatures are
// only ever checked against a key that came out of attestation.ts.

import { buffer, fromHex, toHex } from "./bytes";

/** A check failed: what the server sent is not what the trusted core produced. */
export class VerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerificationError";
  }
}

/** The attestation document does not attest a core this browser trusts. */
export class AttestationError extends VerificationError {
  constructor(message: string) {
    super(message);
    this.name = "AttestationError";
  }
}

/** The core's public keys, raw: what pins, signatures and sealing need of an attestation. */
export interface CoreKeys {
  /** Ed25519, 32 bytes: checks what the core signs. */
  readonly verifyKey: Uint8Array;
  /** X25519, 32 bytes: what dataset keys are sealed to. */
  readonly kemPublicKey: Uint8Array;
}

/** True iff `signature` is a valid Ed25519 signature of `message` by the raw 32-byte `publicKey`.
 * A malformed key or signature is simply not valid (false), never an exception. */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("raw", buffer(publicKey), { name: "Ed25519" }, false, [
      "verify",
    ]);
  } catch {
    return false;
  }
  try {
    return await crypto.subtle.verify({ name: "Ed25519" }, key, buffer(signature), buffer(message));
  } catch {
    return false;
  }
}

/** Lower-case hex of an exact length, or VerificationError naming `what`. */
export function strictHex(value: unknown, bytes: number | null, what: string): Uint8Array {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value)) {
    throw new VerificationError(`${what} is not lower-case hex`);
  }
  const raw = fromHex(value);
  if (bytes !== null && raw.length !== bytes) {
    throw new VerificationError(`${what} is not ${bytes} bytes`);
  }
  return raw;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isSafeInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

/** Number of Unicode code points (what Python's len() counts), not UTF-16 units. */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

// -- reaching the API -------------------------------------------------------------------------

/** GET `path` (absolute, e.g. "/v1/rooms/…") and return its parsed JSON; throws on non-2xx. */
export type FetchJson = (path: string) => Promise<unknown>;

/** What the verifiers need of the API: JSON, plain text (the checkpoint) and raw requests. */
export interface Fetcher {
  json: FetchJson;
  text(path: string): Promise<string>;
  request(path: string, init: RequestInit): Promise<Response>;
}

/** A Fetcher from either a Fetcher or a bare JSON getter (what the JSON-only verifiers need). */
export function asFetcher(source: Fetcher | FetchJson): Fetcher {
  if (typeof source !== "function") return source;
  return {
    json: source,
    text: () => Promise.reject(new Error("this fetcher only gets JSON")),
    request: () => Promise.reject(new Error("this fetcher only gets JSON")),
  };
}

/** Why a request failed, with the server's problem code when it sent one. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A fetcher of this origin's API sending `headers` with every request (a bearer token in
 * tests; the page's cookie goes with credentials "same-origin" anyway). */
export function makeFetcher(headers: Record<string, string> = {}, base = ""): Fetcher {
  async function request(path: string, init: RequestInit = {}): Promise<Response> {
    const merged = new Headers(init.headers);
    for (const [name, value] of Object.entries(headers)) {
      if (!merged.has(name)) merged.set(name, value);
    }
    const response = await fetch(base + path, {
      ...init,
      headers: merged,
      credentials: "same-origin",
    });
    if (!response.ok) {
      let code = "";
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body: unknown = await response.json();
        if (isObject(body)) {
          if (typeof body["code"] === "string") code = body["code"];
          if (typeof body["detail"] === "string") detail = body["detail"];
        }
      } catch {
        // not a problem document: the status says enough
      }
      throw new HttpError(response.status, code, `${path}: ${detail}`);
    }
    return response;
  }
  return {
    request,
    async json(path: string) {
      const response = await request(path, { headers: { Accept: "application/json" } });
      return (await response.json()) as unknown;
    },
    async text(path: string) {
      return await (await request(path)).text();
    },
  };
}

// -- what this browser remembers --------------------------------------------------------------

/** The part of the Storage interface the verifiers use (localStorage by default). */
export type Memory = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export function defaultMemory(): Memory {
  return globalThis.localStorage;
}

/** localStorage keys, mirroring the SDK's state directory (sealroom.client._state/_pins). */
export const memoryKeys = {
  serverPin: "sealroom/core-keys/server",
  roomPin: (roomId: string) => `sealroom/core-keys/rooms/${checkRoomId(roomId)}`,
  checkpoint: (roomId: string) => `sealroom/audit-checkpoints/${checkRoomId(roomId)}`,
  roomVersion: (roomId: string) => `sealroom/room-versions/${checkRoomId(roomId)}`,
};

export function checkRoomId(roomId: string): string {
  if (!/^[0-9a-f]{64}$/.test(roomId)) throw new VerificationError("a room id is 64 lower-case hex digits");
  return roomId;
}

/** The JSON object stored under `key`, null when there is none; VerificationError if it was
 * mangled (it is what checks compare with, so a broken one is never silently replaced). */
export function readRecord(memory: Memory, key: string): Record<string, unknown> | null {
  const text = memory.getItem(key);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!isObject(value)) {
    throw new VerificationError(
      `what this browser saved under ${key} is unreadable; clear this site's data to trust the server afresh`,
    );
  }
  return value;
}

export function writeRecord(memory: Memory, key: string, value: Record<string, unknown>): void {
  memory.setItem(key, JSON.stringify(value));
}

/** A saved record of `roomId` must have been written for this core key (like the SDK's _read). */
export function recordForKey(
  memory: Memory,
  key: string,
  roomId: string,
  verifyKey: Uint8Array,
): Record<string, unknown> | null {
  const record = readRecord(memory, key);
  if (record === null) return null;
  if (record["core_public_key"] !== toHex(verifyKey)) {
    throw new VerificationError(
      `the core's signing key changed since this browser last verified room ${roomId}: the ` +
        "server may have been replaced. If that is expected, clear this site's data",
    );
  }
  return record;
}
