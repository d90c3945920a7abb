// A room's audit log, verified in the browser as the SDK verifies it (src/sealroom/audit):
//
//     leaf data   = canonical JSON of the event {room_id, seq, timestamp_ms, user, action, notes,
//                   details}                                          (audit/events.py)
//     leaf hash   = SHA-256(0x00 || leaf data); node = SHA-256(0x01 || left || right)
//     tree        = RFC 9162 §2.1 Merkle tree; proofs verified per §2.1.3.2 and §2.1.4.2
//     checkpoint  = C2SP signed note "sealroom/rooms/<room id>/audit\n<size>\n<b64 root>\n"
//                   signed by the core's Ed25519 key, the key name being the origin
//
// verifyAuditLog: the checkpoint is the attested core's for this room; the entries are this
// room's, numbered from 0, as many as checkpointed, and hash to its root; and the log extends
// the checkpoint this browser saved when it last verified the room (localStorage, per origin and
// room): the root of that many entries is the saved root, and the server's RFC 9162 consistency
// proof between the two checkpoints verifies. Then the new checkpoint is saved.
//
// Invariants: verifiers take untrusted sizes, hashes and proofs, check every length and index
// before use, and throw VerificationError; they never return false.

import { bytesEqual, concat, fromBase64, fromUtf8, sha256, toBase64, toHex, utf8 } from "./bytes";
import { canonicalJson, type Json } from "./canonical";
import {
  type CoreKeys,
  type FetchJson,
  type Fetcher,
  type Memory,
  asFetcher,
  VerificationError,
  codePoints,
  defaultMemory,
  ed25519Verify,
  isObject,
  isSafeInt,
  memoryKeys,
  recordForKey,
  writeRecord,
} from "./trust";
import { checkRoomPin } from "./attestation";
import { type VerifiedRoom, verifyRoom } from "./signed";

export const HASH_SIZE = 32;
const MAX_PROOF_HASHES = 65;

// -- RFC 9162 hashing -------------------------------------------------------------------------

export async function leafHash(data: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0), data));
}

export async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(1), left, right));
}

export async function emptyRoot(): Promise<Uint8Array> {
  return sha256(new Uint8Array(0));
}

/** The largest power of two strictly smaller than n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** An append-only tree of leaf hashes keeping every complete aligned subtree, so that the root
 * of any prefix costs O(log n) hashes (as merkle.MerkleTree). */
export class MerkleTree {
  // levels[h][i]: hash of the 2**h leaves from i * 2**h.
  private readonly levels: Uint8Array[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  async append(leaf: Uint8Array): Promise<number> {
    if (leaf.length !== HASH_SIZE) throw new Error(`a leaf hash is ${HASH_SIZE} bytes`);
    const index = this.size;
    this.levels[0]!.push(leaf);
    let level = 0;
    let position = index;
    while (position % 2 === 1) {
      const row = this.levels[level]!;
      const parent = await nodeHash(row[position - 1]!, row[position]!);
      if (this.levels.length === level + 1) this.levels.push([]);
      this.levels[level + 1]!.push(parent);
      level += 1;
      position = Math.floor(position / 2);
    }
    return index;
  }

  /** MTH of the first `size` leaves (default: all). */
  async root(size: number = this.size): Promise<Uint8Array> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new Error("tree size outside the log");
    return size === 0 ? emptyRoot() : this.hash(0, size);
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    if (size < 0 || size > this.size || index < 0 || index >= size) throw new Error("outside the tree");
    const proof: Uint8Array[] = [];
    let start = 0;
    let n = size;
    let m = index;
    while (n > 1) {
      const k = split(n);
      if (m < k) {
        proof.push(await this.hash(start + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start, k));
        start += k;
        n -= k;
        m -= k;
      }
    }
    return proof.reverse();
  }

  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    if (second < 0 || second > this.size || first < 0 || first > second) throw new Error("outside the tree");
    if (first === 0 || first === second) return [];
    const proof: Uint8Array[] = [];
    let start = 0;
    let n = second;
    let m = first;
    let whole = true;
    while (m !== n) {
      const k = split(n);
      if (m <= k) {
        proof.push(await this.hash(start + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start, k));
        start += k;
        n -= k;
        m -= k;
        whole = false;
      }
    }
    if (!whole) proof.push(await this.hash(start, m));
    return proof.reverse();
  }

  private async hash(start: number, n: number): Promise<Uint8Array> {
    if ((n & (n - 1)) === 0 && start % n === 0) {
      return this.levels[Math.log2(n)]![start / n]!;
    }
    const k = split(n);
    return nodeHash(await this.hash(start, k), await this.hash(start + k, n - k));
  }
}

export async function rootFromLeaves(leaves: readonly Uint8Array[]): Promise<Uint8Array> {
  const tree = new MerkleTree();
  for (const leaf of leaves) await tree.append(leaf);
  return tree.root();
}

function checkHash(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new VerificationError(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
}

function checkProof(proof: readonly Uint8Array[]): void {
  if (proof.length > MAX_PROOF_HASHES) throw new VerificationError("proof is too long");
  for (const item of proof) checkHash(item, "a proof element");
}

function checkSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new VerificationError(`${what} is not a tree size`);
}

/** RFC 9162 §2.1.3.2: `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
 * Index arithmetic is done on BigInt: JavaScript's bitwise operators are 32-bit. */
export async function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<void> {
  checkHash(leaf, "the leaf hash");
  checkHash(root, "the root hash");
  checkProof(proof);
  checkSize(index, "the leaf index");
  checkSize(size, "the tree size");
  if (!(index < size)) throw new VerificationError("inclusion proof: leaf index outside the tree");
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerificationError("inclusion proof: longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("inclusion proof: shorter than the tree is deep");
  if (!bytesEqual(r, root)) throw new VerificationError("inclusion proof: does not lead to the root");
}

/** RFC 9162 §2.1.4.2: the tree of `first` leaves is a prefix of the tree of `second`. */
export async function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): Promise<void> {
  checkHash(firstRoot, "the first root");
  checkHash(secondRoot, "the second root");
  checkProof(proof);
  checkSize(first, "the first size");
  checkSize(second, "the second size");
  if (first > second) {
    throw new VerificationError("consistency proof: the first size is larger than the second");
  }
  // The empty tree has one root, whatever the second size (checked before the equal sizes).
  if (first === 0 && !bytesEqual(firstRoot, await emptyRoot())) {
    throw new VerificationError("consistency proof: the empty tree has another root");
  }
  if (first === second) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty for equal sizes");
    if (!bytesEqual(firstRoot, secondRoot)) {
      throw new VerificationError("consistency proof: same size, different roots (a fork)");
    }
    return;
  }
  if (first === 0) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty from an empty tree");
    return;
  }
  if (proof.length === 0) throw new VerificationError("consistency proof: empty");
  const path = [...proof];
  const m = BigInt(first);
  if ((m & (m - 1n)) === 0n) path.unshift(firstRoot); // a power of two: its root is the first node
  let fn = m - 1n;
  let sn = BigInt(second) - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError("consistency proof: longer than needed");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("consistency proof: shorter than needed");
  if (!bytesEqual(fr, firstRoot)) throw new VerificationError("consistency proof: does not lead to the first root");
  if (!bytesEqual(sr, secondRoot)) throw new VerificationError("consistency proof: does not lead to the second root");
}

// -- C2SP signed notes and checkpoints --------------------------------------------------------

export const MAX_NOTE_BYTES = 8192;
const SIGNATURE_PREFIX = "\u2014 ";
const NAME = /^[^\s+]+$/u;
const NOTE_CONTROL = /[\x00-\x09\x0b-\x1f]/;

/** The 4-byte key id of an Ed25519 key of `name` (c2sp.org/signed-note). */
export async function keyId(name: string, publicKey: Uint8Array): Promise<Uint8Array> {
  return (await sha256(concat(utf8(name), utf8("\n"), Uint8Array.of(1), publicKey))).subarray(0, 4);
}

function strictBase64(text: string, what: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = fromBase64(text);
  } catch {
    throw new VerificationError(`${what} is not base64`);
  }
  if (toBase64(raw) !== text) throw new VerificationError(`${what} is not in canonical base64`);
  return raw;
}

function signatureLine(line: string): [string, Uint8Array] {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new VerificationError("signed note: malformed signature line");
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const signer = space < 0 ? rest : rest.slice(0, space);
  if (space < 0 || !NAME.test(signer)) throw new VerificationError("signed note: malformed signature line");
  const blob = rest.slice(space + 1);
  let raw: Uint8Array;
  try {
    raw = fromBase64(blob);
  } catch {
    throw new VerificationError("signed note: signature is not base64");
  }
  if (toBase64(raw) !== blob) throw new VerificationError("signed note: signature is not in canonical base64");
  if (raw.length <= 4) throw new VerificationError("signed note: signature line without a signature");
  return [signer, raw];
}

/** The text of `note` once a signature by `publicKey` as `name` verifies (checkpoint.open_note). */
export async function openNote(note: string, name: string, publicKey: Uint8Array): Promise<string> {
  if (!note.isWellFormed()) throw new VerificationError("signed note: not valid UTF-8");
  if (utf8(note).length > MAX_NOTE_BYTES) throw new VerificationError("signed note: too long");
  if (NOTE_CONTROL.test(note)) throw new VerificationError("signed note: control character");
  const cut = note.indexOf("\n\n");
  const text = cut < 0 ? note : note.slice(0, cut);
  const signatures = cut < 0 ? "" : note.slice(cut + 2);
  if (cut < 0 || !text || !signatures.endsWith("\n")) {
    throw new VerificationError("signed note: malformed (no text and signature block)");
  }
  const body = text + "\n";
  // Every line parsed before any is trusted: junk after a valid signature is refused too.
  const lines = signatures.slice(0, -1).split("\n").map(signatureLine);
  const wanted = await keyId(name, publicKey);
  for (const [signer, raw] of lines) {
    if (signer !== name || !bytesEqual(raw.subarray(0, 4), wanted)) continue;
    if (raw.length !== 4 + 64) throw new VerificationError("signed note: Ed25519 signature of the wrong length");
    if (!(await ed25519Verify(publicKey, raw.subarray(4), utf8(body)))) {
      throw new VerificationError(`signed note: invalid signature by ${name}`);
    }
    return body;
  }
  throw new VerificationError(`signed note: no signature by ${name} with the expected key`);
}

export function roomOrigin(roomId: string): string {
  return `sealroom/rooms/${roomId}/audit`;
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") {
    throw new VerificationError("checkpoint: expected origin, size and root lines");
  }
  const [origin, size, root] = lines as [string, string, string];
  if (!origin || !NAME.test(origin)) throw new VerificationError("checkpoint: malformed origin");
  if (!/^(0|[1-9][0-9]{0,19})$/.test(size) || BigInt(size) >= 2n ** 63n) {
    throw new VerificationError("checkpoint: malformed tree size");
  }
  if (BigInt(size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VerificationError("checkpoint: tree size beyond what this browser counts");
  }
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(root);
  } catch {
    throw new VerificationError("checkpoint: root hash is not base64");
  }
  if (rootHash.length !== HASH_SIZE || toBase64(rootHash) !== root) {
    throw new VerificationError("checkpoint: root hash is not 32 bytes in canonical base64");
  }
  return Object.freeze({ origin, size: Number(size), rootHash });
}

/** Verify a signed checkpoint of the log `origin` by `publicKey` and parse it. */
export async function openCheckpoint(note: string, origin: string, publicKey: Uint8Array): Promise<Checkpoint> {
  const checkpoint = parseCheckpoint(await openNote(note, origin, publicKey));
  if (checkpoint.origin !== origin) throw new VerificationError("checkpoint: of another log (origin differs)");
  return checkpoint;
}

// -- events -----------------------------------------------------------------------------------

export type DetailValue = string | number | boolean | null;

/** One audit event, as hashed (wire field names). */
export interface AuditEvent {
  readonly room_id: string;
  readonly seq: number;
  readonly timestamp_ms: number;
  readonly user: string;
  readonly action: string;
  readonly notes: string;
  readonly details: Readonly<Record<string, DetailValue>>;
}

/** The actions of audit/events.py, with the words the page shows for them. */
export const ACTION_LABELS: Readonly<Record<string, string>> = {
  ROOM_PUBLISHED: "Room published",
  ROOM_STOPPED: "Room stopped",
  DATASET_PUBLISHED: "Dataset published",
  DATASET_REMOVED: "Dataset removed",
  DATASET_VALIDATED: "Dataset validated",
  VALIDATION_REPORT_RETRIEVED: "Validation report read",
  DATASET_STATISTICS_SHARED: "Statistics sharing changed",
  DATASET_STATISTICS_RETRIEVED: "Statistics read",
  JOB_SUBMITTED: "Computation run",
  JOB_COMPLETED: "Computation finished",
  JOB_FAILED: "Computation failed",
  RESULT_RETRIEVED: "Result retrieved",
  DATASET_KEY_USED: "Dataset used by a computation",
  AIRLOCK_QUOTA_CHARGED: "Airlock quota charged",
  PRIVACY_BUDGET_CHARGED: "Privacy budget charged",
  ACCESS_DENIED: "Access denied",
  DEVELOPMENT_JOB_SUBMITTED: "Development computation run",
  REQUEST_SUBMITTED: "Request submitted",
  REQUEST_APPROVED: "Request approved",
  REQUEST_REJECTED: "Request rejected",
  REQUEST_SUPERSEDED: "Request superseded",
  REQUEST_PREVIEW_SUBMITTED: "Request previewed",
  COMMIT_INTEGRATED: "Room changed (commit integrated)",
  TAMPERING_DETECTED: "Tampering detected",
};

const EVENT_FIELDS = ["room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"];
const MAX_NOTES_CHARS = 2000;
const MAX_USER_CHARS = 320;
const MAX_DETAILS = 32;
const MAX_DETAIL_KEY_CHARS = 64;
const MAX_DETAIL_VALUE_CHARS = 512;
const MAX_PROOF_DETAIL_CHARS = 16_384;
// C0, DEL, C1 and the Unicode line and paragraph separators (events.py's _CONTROL).
const EVENT_CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;

function checkText(where: string, name: string, value: unknown, max: number, allowEmpty: boolean): string {
  if (typeof value !== "string") throw new VerificationError(`malformed audit entry${where}: ${name} must be a str`);
  if (!allowEmpty && !value) throw new VerificationError(`malformed audit entry${where}: ${name} must not be empty`);
  if (codePoints(value) > max) {
    throw new VerificationError(`malformed audit entry${where}: ${name} is longer than ${max} characters`);
  }
  if (EVENT_CONTROL.test(value)) {
    throw new VerificationError(`malformed audit entry${where}: ${name} contains control characters`);
  }
  if (!value.isWellFormed()) throw new VerificationError(`malformed audit entry${where}: ${name} is not valid Unicode text`);
  return value;
}

function checkCount(where: string, name: string, value: unknown): number {
  if (!isSafeInt(value) || value < 0) {
    throw new VerificationError(`malformed audit entry${where}: ${name} must be between 0 and 2**53-1`);
  }
  return value;
}

/** Parse one wire entry strictly, as format.event_from_wire (no verification). */
export function eventFromWire(raw: unknown): AuditEvent {
  const where = isObject(raw) && isSafeInt(raw["seq"]) ? ` ${raw["seq"]}` : "";
  if (!isObject(raw)) throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  const keys = Object.keys(raw);
  if (keys.length !== EVENT_FIELDS.length || !EVENT_FIELDS.every((f) => f in raw)) {
    throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  }
  const action = raw["action"];
  if (typeof action !== "string" || !(action in ACTION_LABELS)) {
    throw new VerificationError(`malformed audit entry${where}: unknown action`);
  }
  const rawDetails = raw["details"];
  if (!isObject(rawDetails)) throw new VerificationError(`malformed audit entry${where}: details is not an object`);
  const room_id = checkText(where, "room_id", raw["room_id"], MAX_DETAIL_VALUE_CHARS, false);
  const seq = checkCount(where, "seq", raw["seq"]);
  const timestamp_ms = checkCount(where, "timestamp_ms", raw["timestamp_ms"]);
  const user = checkText(where, "user", raw["user"], MAX_USER_CHARS, true);
  const notes = checkText(where, "notes", raw["notes"], MAX_NOTES_CHARS, true);
  const entries = Object.entries(rawDetails);
  if (entries.length > MAX_DETAILS) throw new VerificationError(`malformed audit entry${where}: more than ${MAX_DETAILS} details`);
  const details: Record<string, DetailValue> = {};
  for (const [key, value] of entries) {
    checkText(where, "details key", key, MAX_DETAIL_KEY_CHARS, false);
    if (typeof value === "string") {
      checkText(where, `details['${key}']`, value, key === "proof" ? MAX_PROOF_DETAIL_CHARS : MAX_DETAIL_VALUE_CHARS, true);
    } else if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        throw new VerificationError(`malformed audit entry${where}: details['${key}'] is out of range`);
      }
    } else if (typeof value !== "boolean" && value !== null) {
      throw new VerificationError(`malformed audit entry${where}: details['${key}'] must be str, int, bool or None`);
    }
    details[key] = value as DetailValue;
  }
  return Object.freeze({ room_id, seq, timestamp_ms, user, action, notes, details: Object.freeze(details) });
}

export function eventsFromWire(raw: unknown): AuditEvent[] {
  if (!Array.isArray(raw)) throw new VerificationError("malformed audit log: not a list of entries");
  return raw.map(eventFromWire);
}

/** The bytes the log hashes for `event`: its canonical JSON. */
export function eventCanonical(event: AuditEvent): Uint8Array {
  return canonicalJson(eventToWire(event));
}

export function eventToWire(event: AuditEvent): { [key: string]: Json } {
  return {
    room_id: event.room_id,
    seq: event.seq,
    timestamp_ms: event.timestamp_ms,
    user: event.user,
    action: event.action,
    notes: event.notes,
    details: { ...event.details },
  };
}

export async function eventLeafHash(event: AuditEvent): Promise<Uint8Array> {
  return leafHash(eventCanonical(event));
}

// Format, private-use, surrogate and unassigned characters, and line/paragraph separators: shown
// as \uXXXX so that a participant's note cannot make one line look like another (format.py).
const INVISIBLE = /[\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;

/** `text` with invisible characters written as \uXXXX (as format._visible). */
export function visible(text: string): string {
  return text.replace(INVISIBLE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`);
}

/** One CSV line per event, `timestamp_ms,user,notes,action`, as format.format_lines. */
export function formatLines(events: readonly AuditEvent[]): string {
  const quote = (t: string) => `"${t.replace(/"/g, '""')}"`;
  return events
    .map((e) => {
      const user = visible(e.user);
      return [
        String(e.timestamp_ms),
        /[,"\r\n]/.test(user) ? quote(user) : user,
        quote(visible(e.notes)),
        e.action,
      ].join(",") + "\n";
    })
    .join("");
}

/** An entry as the page shows it: what happened, who, when, in words. */
export interface DescribedEntry {
  readonly seq: number;
  readonly timestampMs: number;
  /** ISO 8601 UTC. */
  readonly time: string;
  readonly user: string;
  readonly action: string;
  readonly label: string;
  /** The core's sentence for the event, invisible characters made visible. */
  readonly description: string;
  readonly details: Readonly<Record<string, DetailValue>>;
  readonly event: AuditEvent;
}

export function describeEvent(event: AuditEvent): DescribedEntry {
  return Object.freeze({
    seq: event.seq,
    timestampMs: event.timestamp_ms,
    time: new Date(event.timestamp_ms).toISOString(),
    user: visible(event.user),
    action: event.action,
    label: ACTION_LABELS[event.action] ?? event.action,
    description: visible(event.notes),
    details: event.details,
    event,
  });
}

// -- verifying a whole log --------------------------------------------------------------------

export interface VerifiedLog {
  readonly roomId: string;
  readonly events: readonly AuditEvent[];
  readonly checkpoint: Checkpoint;
  readonly note: string;
  readonly tree: MerkleTree;
}

/** log.verify_log: `events` (the whole log, from entry 0) against the signed `note`, extending
 * `previous` when given. */
export async function verifyLog(
  roomId: string,
  events: readonly AuditEvent[],
  note: string,
  verifyKey: Uint8Array,
  previous: Checkpoint | null = null,
): Promise<VerifiedLog> {
  // 1. Signed by the core, for this room's log.
  const checkpoint = await openCheckpoint(note, roomOrigin(roomId), verifyKey);
  // 2. This room's entries, numbered from 0 without gaps, as many as checkpointed.
  events.forEach((event, position) => {
    if (event.room_id !== roomId) throw new VerificationError(`audit entry ${position}: belongs to another room`);
    if (event.seq !== position) {
      throw new VerificationError(
        `audit entry ${position}: has seq ${event.seq}, expected ${position} (entries missing, duplicated or reordered)`,
      );
    }
  });
  if (events.length !== checkpoint.size) {
    throw new VerificationError(`audit log has ${events.length} entries, its checkpoint commits to ${checkpoint.size}`);
  }
  // 3. They hash to the signed root.
  const tree = new MerkleTree();
  for (const event of events) await tree.append(await eventLeafHash(event));
  if (!bytesEqual(await tree.root(), checkpoint.rootHash)) {
    throw new VerificationError("audit log does not match its signed checkpoint (entry edited)");
  }
  // 4. It extends what was seen before: no truncation, no fork.
  if (previous !== null) await checkExtends(previous, checkpoint.origin, tree);
  return Object.freeze({ roomId, events, checkpoint, note, tree });
}

/** log.check_extends: the root of the first previous.size entries is the root previous signed. */
export async function checkExtends(previous: Checkpoint, origin: string, tree: MerkleTree): Promise<void> {
  if (previous.origin !== origin) throw new VerificationError("checkpoints of different logs");
  if (previous.size > tree.size) {
    throw new VerificationError(
      `audit log truncated: it has ${tree.size} entries, ${previous.size} were seen before`,
    );
  }
  if (!bytesEqual(await tree.root(previous.size), previous.rootHash)) {
    throw new VerificationError(
      `audit log forked: not an extension of the history seen before (the first ${previous.size} entries differ)`,
    );
  }
}

/** The checkpoint of `roomId` this browser saved, re-verified against the core key (null: none). */
export async function loadSavedCheckpoint(
  roomId: string,
  verifyKey: Uint8Array,
  memory: Memory = defaultMemory(),
): Promise<{ note: string; checkpoint: Checkpoint } | null> {
  const record = recordForKey(memory, memoryKeys.checkpoint(roomId), roomId, verifyKey);
  if (record === null) return null;
  const note = String(record["checkpoint"]);
  try {
    return { note, checkpoint: await openCheckpoint(note, roomOrigin(roomId), verifyKey) };
  } catch (error) {
    throw new VerificationError(
      `the audit checkpoint this browser saved for room ${roomId} does not verify ` +
        `(${(error as Error).message}); it was altered: clear this site's data to trust the server afresh`,
    );
  }
}

/** Save `note` as the last checkpoint seen of `roomId`; never replaces a larger one. */
export async function saveCheckpoint(
  roomId: string,
  verifyKey: Uint8Array,
  note: string,
  checkpoint: Checkpoint,
  memory: Memory = defaultMemory(),
): Promise<void> {
  const current = await loadSavedCheckpoint(roomId, verifyKey, memory);
  if (current !== null && current.checkpoint.size > checkpoint.size) return;
  writeRecord(memory, memoryKeys.checkpoint(roomId), { checkpoint: note, core_public_key: toHex(verifyKey) });
}

export interface VerifiedAuditLog {
  readonly roomId: string;
  readonly entries: readonly DescribedEntry[];
  readonly events: readonly AuditEvent[];
  readonly checkpoint: Checkpoint;
  /** The signed note, as received. */
  readonly note: string;
  readonly size: number;
  /** Hex of the Merkle root. */
  readonly rootHash: string;
  /** The checkpoint this browser had saved before and that the log extends (null: first view). */
  readonly previous: Checkpoint | null;
  /** Its size (null: first view). */
  readonly previousSize: number | null;
}

export interface AuditOptions {
  memory?: Memory;
  /** Check extension against this checkpoint instead of the saved one (and save nothing). */
  lastSeen?: Checkpoint | null;
}

/** Fetch the room's log and signed checkpoint and verify them (Session.verify_audit_log), then
 * save the new checkpoint. `core` is the attested core (its keys are pinned for the room). */
export async function verifyAuditLog(
  roomId: string,
  source: Fetcher | FetchJson,
  core: CoreKeys,
  options: AuditOptions = {},
): Promise<VerifiedAuditLog> {
  const fetcher = asFetcher(source);
  const memory = options.memory ?? defaultMemory();
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/audit-log`);
  if (!isObject(body) || typeof body["checkpoint"] !== "string" || !Array.isArray(body["entries"])) {
    throw new VerificationError("the server sent a malformed audit log (entries and signed checkpoint)");
  }
  const events = eventsFromWire(body["entries"]);
  const note = body["checkpoint"];
  const key = core.verifyKey;
  const previous =
    options.lastSeen !== undefined
      ? options.lastSeen
      : ((await loadSavedCheckpoint(roomId, key, memory))?.checkpoint ?? null);
  const verified = await verifyLog(roomId, events, note, key, previous);
  if (previous !== null && previous.size > 0 && previous.size < verified.checkpoint.size) {
    // The entries already showed the extension; the core's own RFC 9162 proof must agree, or
    // the server is serving two histories at once.
    const proof = await fetcher.json(
      `/v1/rooms/${roomId}/audit-log/proof/consistency?first=${previous.size}&second=${verified.checkpoint.size}`,
    );
    if (!isObject(proof) || !Array.isArray(proof["proof"]) || !proof["proof"].every((p) => typeof p === "string")) {
      throw new VerificationError("the server sent a malformed consistency proof");
    }
    const hashes = (proof["proof"] as string[]).map((p) => strictBase64(p, "a proof element"));
    await verifyConsistency(previous.size, verified.checkpoint.size, previous.rootHash, verified.checkpoint.rootHash, hashes);
  }
  if (options.lastSeen === undefined) await saveCheckpoint(roomId, key, note, verified.checkpoint, memory);
  return Object.freeze({
    roomId,
    entries: events.map(describeEvent),
    events,
    checkpoint: verified.checkpoint,
    note,
    size: verified.checkpoint.size,
    rootHash: toHex(verified.checkpoint.rootHash),
    previous,
    previousSize: previous?.size ?? null,
  });
}

/** Verify that entry `index` is in the checkpointed tree, with the server's inclusion proof. */
export async function verifyEntryIncluded(
  roomId: string,
  source: Fetcher | FetchJson,
  log: VerifiedAuditLog,
  index: number,
): Promise<void> {
  const size = log.checkpoint.size;
  const body = await asFetcher(source).json(`/v1/rooms/${roomId}/audit-log/proof/inclusion?index=${index}&size=${size}`);
  if (!isObject(body) || !Array.isArray(body["proof"]) || !body["proof"].every((p) => typeof p === "string")) {
    throw new VerificationError("the server sent a malformed inclusion proof");
  }
  const event = log.events[index];
  if (event === undefined) throw new VerificationError("inclusion proof: leaf index outside the tree");
  const hashes = (body["proof"] as string[]).map((p) => strictBase64(p, "a proof element"));
  await verifyInclusion(index, size, await eventLeafHash(event), hashes, log.checkpoint.rootHash);
}

// -- the export that `sealroom audit verify` checks ------------------------------------------

export const EXPORT_FORMAT = "sealroom/audit-export/v2";

/** Session.export_audit_log: verify the room's log (saving its checkpoint), then its published
 * definition and commits (read after the log), and build the export file `sealroom audit
 * verify` checks: bytes to download. */
export async function exportAuditLog(
  roomId: string,
  source: Fetcher | FetchJson,
  core: CoreKeys,
  options: { memory?: Memory } = {},
): Promise<Uint8Array> {
  const memory = options.memory ?? defaultMemory();
  const log = await verifyAuditLog(roomId, source, core, { memory });
  const room = await verifyRoom(roomId, source, core, memory);
  return buildAuditExport(log, room, core.verifyKey);
}

/** The export file (export.build_export, format v2) of a verified log, with the room's verified
 * published definition and commits: canonical JSON and a newline. */
export function buildAuditExport(log: VerifiedAuditLog, room: VerifiedRoom, verifyKey: Uint8Array): Uint8Array {
  if (room.roomId !== log.roomId) throw new Error("the room and the log are of different rooms");
  const integrated = log.events.filter((e) => e.action === "COMMIT_INTEGRATED").length;
  if (room.commits.length < integrated) {
    throw new VerificationError(
      `room ${log.roomId}: the log integrates ${integrated} commit(s), but only ${room.commits.length} were served (the room's history was cut)`,
    );
  }
  const body: { [key: string]: Json } = {
    checkpoint: log.note,
    commits: room.commits.slice(0, integrated).map((c) => c.text),
    core_public_key: toHex(verifyKey),
    definition: room.definitionText,
    entries: log.events.map(eventToWire),
    format: EXPORT_FORMAT,
    room_id: log.roomId,
  };
  return concat(canonicalJson(body), utf8("\n"));
}

/** The export as text (it is UTF-8 JSON), e.g. for a Blob. */
export function exportText(data: Uint8Array): string {
  return fromUtf8(data);
}
