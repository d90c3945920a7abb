// What the core signs, verified in the browser with the attested core key, as the SDK does
// (src/sealroom/client/_session.py, src/sealroom/model/{definition,commits,room_state,
// result_release,statistics_release}.py):
//
//     room id    = SHA-256(the definition's canonical JSON text, exactly as served)
//     definition = Ed25519("sealroom/room-definition/v1" || room id || text)
//     commit k   = Ed25519("sealroom/room-commit/v1" || room id "/" k "/" pin_k "/" commit text)
//                  pin_0 = SHA-256("sealroom/history-pin/v1" || room id)
//                  pin_k = SHA-256("sealroom/history-pin/v1" || pin_{k-1} || commit id_k)
//     state      = Ed25519("sealroom/room-state/v1" || canonical {room_id, version, status,
//                                                                datasets, history_pin})
//     result     = Ed25519("sealroom/result-release/v1" || canonical {room_id, node, job_id,
//                    parameters, recipient_public_key, format, sealed_sha256})
//     statistics = Ed25519("sealroom/statistics-release/v1" || canonical {room_id, node,
//                    dataset_id, recipient_public_key, sealed_sha256})
//
// Texts the server sends to be hashed or signed are hashed as received, never re-encoded here.
// Invariant: the state version and the number of commits seen per room only grow in this browser
// (localStorage): a server serving an older state or fewer commits is refused (a rollback).

import { concat, fromHex, sha256, sha256Hex, toHex, utf8 } from "./bytes";
import { canonicalJson } from "./canonical";
import { checkRoomPin } from "./attestation";
import {
  type CoreKeys,
  type FetchJson,
  type Fetcher,
  type Memory,
  asFetcher,
  VerificationError,
  checkRoomId,
  defaultMemory,
  ed25519Verify,
  isObject,
  isSafeInt,
  memoryKeys,
  recordForKey,
  strictHex,
  writeRecord,
} from "./trust";

const HEX64 = /^[0-9a-f]{64}$/;

// -- definitions and commits ------------------------------------------------------------------

export function roomSignatureMessage(roomId: string, definitionText: string): Uint8Array {
  return concat(utf8("sealroom/room-definition/v1"), utf8(roomId), utf8(definitionText));
}

export async function initialHistoryPin(roomId: string): Promise<string> {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), utf8(roomId)));
}

export async function nextHistoryPin(pin: string, commitId: string): Promise<string> {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), fromHex(pin), fromHex(commitId)));
}

export function commitRecordMessage(roomId: string, sequence: number, commitText: string, pinAfter: string): Uint8Array {
  return concat(
    utf8("sealroom/room-commit/v1"),
    utf8(`${roomId}/${sequence}/${pinAfter}/`),
    utf8(commitText),
  );
}

/** The published definition: its hash is `roomId` and the core signed exactly this text. */
export async function verifyDefinition(
  roomId: string,
  definitionText: string,
  signatureHex: string,
  verifyKey: Uint8Array,
): Promise<Record<string, unknown>> {
  checkRoomId(roomId);
  // 1. The id is the hash of the text: the room is the one everybody agreed to.
  if ((await sha256Hex(utf8(definitionText))) !== roomId) {
    throw new VerificationError(`the definition served for room ${roomId} does not match its id`);
  }
  // 2. The attested core published it (not a definition the host made up).
  const signature = strictHex(signatureHex, 64, `room ${roomId}: the definition's signature`);
  if (!(await ed25519Verify(verifyKey, signature, roomSignatureMessage(roomId, definitionText)))) {
    throw new VerificationError(`room ${roomId}: the definition is not signed by the core`);
  }
  const definition: unknown = JSON.parse(definitionText);
  if (!isObject(definition)) throw new VerificationError(`room ${roomId}: the definition is not a JSON object`);
  return definition;
}

export interface VerifiedCommit {
  /** The commit's canonical JSON text, as the core signed it. */
  readonly text: string;
  readonly commit: Record<string, unknown>;
  readonly commitId: string;
  /** 1 for the first commit integrated. */
  readonly sequence: number;
  readonly pinAfter: string;
}

/** commits.verify_history: each commit of this room, built on the pin before it, signed by the
 * core as the room's sequence-th commit. Returns the commits and [pin_0, pin_1, ...]. */
export async function verifyHistory(
  roomId: string,
  commits: readonly { commit: string; signature: string }[],
  verifyKey: Uint8Array,
): Promise<{ commits: VerifiedCommit[]; pins: string[] }> {
  const pins = [await initialHistoryPin(roomId)];
  const verified: VerifiedCommit[] = [];
  for (const [index, entry] of commits.entries()) {
    const sequence = index + 1;
    const altered = new VerificationError(`room ${roomId}: commit ${sequence} was altered`);
    let commit: unknown;
    try {
      commit = JSON.parse(entry.commit);
    } catch {
      throw altered;
    }
    if (!isObject(commit) || commit["room_id"] !== roomId || commit["history_pin"] !== pins.at(-1)) throw altered;
    const commitId = await sha256Hex(utf8(entry.commit));
    const pin = await nextHistoryPin(pins.at(-1)!, commitId);
    let signature: Uint8Array;
    try {
      signature = strictHex(entry.signature, 64, "signature");
    } catch {
      throw altered;
    }
    if (!(await ed25519Verify(verifyKey, signature, commitRecordMessage(roomId, sequence, entry.commit, pin)))) {
      throw altered;
    }
    verified.push(Object.freeze({ text: entry.commit, commit, commitId, sequence, pinAfter: pin }));
    pins.push(pin);
  }
  return { commits: verified, pins };
}

// -- room state -------------------------------------------------------------------------------

export interface RoomState {
  readonly room_id: string;
  readonly version: number;
  readonly status: "active" | "stopped";
  readonly datasets: Readonly<Record<string, string>>;
  readonly history_pin: string;
}

/** room_state.verify_room_state: the core's signature, the room, the form, and a version not
 * below `minVersion`. */
export async function verifyRoomState(
  roomId: string,
  stateText: string,
  signatureHex: string,
  verifyKey: Uint8Array,
  minVersion = 0,
): Promise<RoomState> {
  const malformed = new VerificationError(`room ${roomId}: the signed state is malformed`);
  let signature: Uint8Array;
  try {
    signature = strictHex(signatureHex, 64, "signature");
  } catch {
    signature = new Uint8Array(0);
  }
  const canonical = utf8(stateText);
  if (!(await ed25519Verify(verifyKey, signature, concat(utf8("sealroom/room-state/v1"), canonical)))) {
    throw new VerificationError(`room ${roomId}: the state is not signed by the core`);
  }
  let body: unknown;
  try {
    body = JSON.parse(stateText);
  } catch {
    throw new VerificationError(`room ${roomId}: the signed state is not JSON`);
  }
  const fields = ["room_id", "version", "status", "datasets", "history_pin"];
  if (!isObject(body) || Object.keys(body).length !== fields.length || !fields.every((f) => f in body)) {
    throw malformed;
  }
  const { datasets, version, status } = body;
  const pin = body["history_pin"];
  if (
    !isObject(datasets) ||
    !Object.values(datasets).every((v) => typeof v === "string") ||
    !isSafeInt(version) ||
    (status !== "active" && status !== "stopped") ||
    typeof pin !== "string" ||
    !HEX64.test(pin) ||
    typeof body["room_id"] !== "string"
  ) {
    throw malformed;
  }
  const state: RoomState = Object.freeze({
    room_id: body["room_id"],
    version,
    status,
    datasets: Object.freeze({ ...(datasets as Record<string, string>) }),
    history_pin: pin,
  });
  if (state.room_id !== roomId) throw new VerificationError(`room ${roomId}: the server sent the state of another room`);
  let recoded: Uint8Array;
  try {
    recoded = canonicalJson({ ...state, datasets: { ...state.datasets } });
  } catch {
    throw malformed;
  }
  if (toHex(recoded) !== toHex(canonical)) throw new VerificationError(`room ${roomId}: the signed state is not canonical`);
  if (state.version < minVersion) {
    throw new VerificationError(
      `room ${roomId}: the server sent state version ${state.version}, older than version ${minVersion} you saw before (rolled back)`,
    );
  }
  return state;
}

function roomCounter(memory: Memory, roomId: string, verifyKey: Uint8Array, name: string): number {
  const record = recordForKey(memory, memoryKeys.roomVersion(roomId), roomId, verifyKey);
  const value = record?.[name];
  return isSafeInt(value) ? value : 0;
}

function saveRoomVersion(memory: Memory, roomId: string, verifyKey: Uint8Array, version: number, commits = 0): void {
  const known = [roomCounter(memory, roomId, verifyKey, "version"), roomCounter(memory, roomId, verifyKey, "commits")];
  const wanted = [Math.max(version, known[0]!), Math.max(commits, known[1]!)];
  if (wanted[0] === known[0] && wanted[1] === known[1]) return;
  writeRecord(memory, memoryKeys.roomVersion(roomId), {
    core_public_key: toHex(verifyKey),
    version: wanted[0],
    commits: wanted[1],
  });
}

/** GET /v1/rooms/{id}/state, verified; its version never goes back in this browser. */
export async function retrieveRoomState(
  roomId: string,
  source: Fetcher | FetchJson,
  core: CoreKeys,
  memory: Memory = defaultMemory(),
): Promise<RoomState> {
  const fetcher = asFetcher(source);
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/state`);
  if (!isObject(body) || typeof body["state"] !== "string" || typeof body["signature"] !== "string") {
    throw new VerificationError(`the server sent a malformed state of room ${roomId}`);
  }
  const state = await verifyRoomState(
    roomId,
    body["state"],
    body["signature"],
    core.verifyKey,
    roomCounter(memory, roomId, core.verifyKey, "version"),
  );
  saveRoomVersion(memory, roomId, core.verifyKey, state.version);
  return state;
}

// -- a whole room -----------------------------------------------------------------------------

export interface VerifiedRoom {
  readonly roomId: string;
  /** The published definition (parsed JSON; its commits are not applied here). */
  readonly definition: Record<string, unknown>;
  /** Its canonical JSON text, exactly as served and signed (SHA-256 = roomId). */
  readonly definitionText: string;
  /** The integrated commits, in order, each verified. */
  readonly commits: readonly VerifiedCommit[];
  /** The pin of the current definition (after the last commit), as the signed state names. */
  readonly historyPin: string;
  readonly state: RoomState;
  /** From the signed state. */
  readonly status: "active" | "stopped";
  /** Unsigned: relayed by the host. */
  readonly createdAtMs: number | null;
}

/** The room's published definition, its commits and its signed state, verified as
 * Session.retrieve_current_data_room_configuration does: the definition hashes to the id and the
 * core signed it and each commit, in order; the signed state names this history (no commit
 * dropped); and no fewer commits, no older state than this browser saw before. */
export async function verifyRoom(
  roomId: string,
  source: Fetcher | FetchJson,
  core: CoreKeys,
  memory: Memory = defaultMemory(),
): Promise<VerifiedRoom> {
  const fetcher = asFetcher(source);
  checkRoomId(roomId);
  for (let attempt = 0; ; attempt++) {
    checkRoomPin(roomId, core, memory);
    const body = await fetcher.json(`/v1/rooms/${roomId}`);
    if (
      !isObject(body) ||
      typeof body["definition"] !== "string" ||
      typeof body["signature"] !== "string" ||
      !Array.isArray(body["commits"]) ||
      !body["commits"].every(
        (c) => isObject(c) && typeof c["commit"] === "string" && typeof c["signature"] === "string",
      )
    ) {
      throw new VerificationError(`the server sent a malformed definition of room ${roomId}`);
    }
    const definitionText = body["definition"];
    const definition = await verifyDefinition(roomId, definitionText, body["signature"], core.verifyKey);
    const { commits, pins } = await verifyHistory(
      roomId,
      body["commits"] as { commit: string; signature: string }[],
      core.verifyKey,
    );
    const state = await retrieveRoomState(roomId, fetcher, core, memory);
    if (state.history_pin !== pins.at(-1)) {
      // A commit may have been integrated between the two requests: look once more.
      if (attempt === 1 || pins.includes(state.history_pin)) {
        throw new VerificationError(
          `room ${roomId}: the server sent ${commits.length} commit(s), but the core's signed state names ` +
            "another history (commits were dropped: rolled back)",
        );
      }
      continue;
    }
    const seen = roomCounter(memory, roomId, core.verifyKey, "commits");
    if (commits.length < seen) {
      throw new VerificationError(
        `room ${roomId}: the server sent ${commits.length} commit(s), fewer than the ${seen} this browser saw before (rolled back)`,
      );
    }
    saveRoomVersion(memory, roomId, core.verifyKey, state.version, commits.length);
    const created = body["created_at_ms"];
    return Object.freeze({
      roomId,
      definition,
      definitionText,
      commits,
      historyPin: pins.at(-1)!,
      state,
      status: state.status,
      createdAtMs: isSafeInt(created) ? created : null,
    });
  }
}

// -- releases ---------------------------------------------------------------------------------

/** The facts of one release of a job's result (result_release.ResultRelease). */
export interface ResultRelease {
  roomId: string;
  node: string;
  jobId: string;
  parameters: Record<string, string>;
  /** Hex X25519 key the result is sealed to. */
  recipientPublicKey: string;
  format: string;
  /** Hex SHA-256 of the sealed bytes. */
  sealedSha256: string;
}

export async function resultReleaseOf(
  facts: Omit<ResultRelease, "sealedSha256">,
  sealed: Uint8Array,
): Promise<ResultRelease> {
  return { ...facts, sealedSha256: toHex(await sha256(sealed)) };
}

export function resultReleaseCanonical(release: ResultRelease): Uint8Array {
  return canonicalJson({
    room_id: release.roomId,
    node: release.node,
    job_id: release.jobId,
    parameters: { ...release.parameters },
    recipient_public_key: release.recipientPublicKey,
    format: release.format,
    sealed_sha256: release.sealedSha256,
  });
}

/** verify_result_release: the core released exactly `expected` (what this browser asked for and
 * received); any other recipient key, bytes, job or format fails the same way. */
export async function verifyResultRelease(
  expected: ResultRelease,
  signature: Uint8Array,
  verifyKey: Uint8Array,
): Promise<void> {
  const message = concat(utf8("sealroom/result-release/v1"), resultReleaseCanonical(expected));
  if (!(await ed25519Verify(verifyKey, signature, message))) {
    throw new VerificationError(
      `the result of job ${expected.jobId} is not the core's release of it to your key (the server ` +
        "altered the result or re-sealed it, or replaced your key; check the room's audit log for " +
        "the key the job was submitted with)",
    );
  }
}

export interface StatisticsRelease {
  roomId: string;
  node: string;
  datasetId: string;
  recipientPublicKey: string;
  sealedSha256: string;
}

/** verify_statistics_release: the core released exactly these statistics to this key. */
export async function verifyStatisticsRelease(
  expected: StatisticsRelease,
  signature: Uint8Array,
  verifyKey: Uint8Array,
): Promise<void> {
  const message = concat(
    utf8("sealroom/statistics-release/v1"),
    canonicalJson({
      room_id: expected.roomId,
      node: expected.node,
      dataset_id: expected.datasetId,
      recipient_public_key: expected.recipientPublicKey,
      sealed_sha256: expected.sealedSha256,
    }),
  );
  if (!(await ed25519Verify(verifyKey, signature, message))) {
    throw new VerificationError(
      `the statistics of node '${expected.node}' are not the core's release of them to your key ` +
        "(the server altered or made them up)",
    );
  }
}
