// Known-answer checks of the verifiers (tests/vectors/web/verify.json, the file the Python
// implementation is checked against too) and thin wrappers that run the verifiers against the
// live server, for tests/integration/test_web_verify.py. Tests call them in a real page:
//
//     const t = await import('/static/js/selftest.js');
//     await t.verifyKnownAnswers(vectors)   // [] when every vector agrees
//
// Live wrappers take the bearer token of a test user and send it as Authorization; they use
// this page's localStorage like the app does, so a second call sees what the first saved.

import {
  attest,
  parseSpecifications,
  verifyAttestation,
  type EnclaveSpecification,
  type VerifiedAttestation,
} from "../attestation";
import {
  MerkleTree,
  buildAuditExport,
  eventLeafHash,
  eventsFromWire,
  exportAuditLog,
  formatLines,
  leafHash,
  nodeHash,
  openCheckpoint,
  roomOrigin,
  verifyAuditLog,
  verifyConsistency,
  verifyEntryIncluded,
  verifyInclusion,
  verifyLog,
} from "../audit";
import { fromHex, fromUtf8, sha256Hex, toHex, utf8 } from "../bytes";
import { fetchSealedResult, openResult, parseCsv } from "../results";
import { generateRecipient, recipientFromPrivateBytes, type Recipient } from "../sealing";
import { verifyDefinition, verifyHistory, verifyRoom, verifyRoomState } from "../signed";
import { makeFetcher } from "../trust";

type Vectors = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Case = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const hexes = (items: string[]) => items.map(fromHex);

/** Every disagreement with the vectors, as readable lines (empty: all agree). */
export async function verifyKnownAnswers(vectors: Vectors): Promise<string[]> {
  const mismatches: string[] = [];
  const note = (where: string, message: string) => mismatches.push(`${where}: ${message}`);

  /** Run `check` for a case that must be accepted (valid) or refused with `error` in the reason. */
  async function expect(where: string, c: Case, check: () => Promise<unknown>): Promise<unknown> {
    try {
      const value = await check();
      if (!c["valid"]) note(where, `accepted, expected a refusal (${c["error"] ?? ""})`);
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (c["valid"]) note(where, `refused: ${message}`);
      else if (c["error"] && !message.includes(c["error"])) {
        note(where, `refused for another reason: ${message} (expected "${c["error"]}")`);
      }
      return undefined;
    }
  }

  // Merkle
  const merkle = vectors["merkle"];
  const data = hexes(merkle["leaf_data"]);
  const leaves = await Promise.all(data.map(leafHash));
  if (leaves.map(toHex).join() !== merkle["leaf_hashes"].join()) note("merkle", "leaf hashes differ");
  const pair = merkle["node_hash"];
  if (toHex(await nodeHash(fromHex(pair.left), fromHex(pair.right))) !== pair.hash) note("merkle", "node hash differs");
  const tree = new MerkleTree();
  for (const leaf of leaves) await tree.append(leaf);
  for (let n = 0; n <= leaves.length; n++) {
    if (toHex(await tree.root(n)) !== merkle["roots"][n]) note("merkle", `root of ${n} leaves differs`);
  }
  for (const [i, c] of (merkle["inclusion"] as Case[]).entries()) {
    await expect(`inclusion ${i} (${c["desc"]})`, c, () =>
      verifyInclusion(c["index"], c["size"], fromHex(c["leaf"]), hexes(c["proof"]), fromHex(c["root"])),
    );
    if (c["valid"] && c["desc"] === "generated") {
      const proof = await tree.inclusionProof(c["index"], c["size"]);
      if (proof.map(toHex).join() !== c["proof"].join()) note(`inclusion ${i}`, "generated proof differs");
    }
  }
  for (const [i, c] of (merkle["consistency"] as Case[]).entries()) {
    await expect(`consistency ${i} (${c["desc"]})`, c, () =>
      verifyConsistency(c["first"], c["second"], fromHex(c["first_root"]), fromHex(c["second_root"]), hexes(c["proof"])),
    );
    if (c["valid"] && c["desc"] === "generated") {
      const proof = await tree.consistencyProof(c["first"], c["second"]);
      if (proof.map(toHex).join() !== c["proof"].join()) note(`consistency ${i}`, "generated proof differs");
    }
  }

  // Checkpoints
  for (const [i, c] of (vectors["checkpoint"]["cases"] as Case[]).entries()) {
    const opened = (await expect(`checkpoint ${i} (${c["desc"]})`, c, () =>
      openCheckpoint(c["note"], c["origin"], fromHex(c["public_key"])),
    )) as { size: number; rootHash: Uint8Array } | undefined;
    if (opened && (opened.size !== c["size"] || toHex(opened.rootHash) !== c["root"])) {
      note(`checkpoint ${i}`, "size or root differs");
    }
  }

  // Attestation
  const attestation = vectors["attestation"];
  for (const [i, c] of (attestation["cases"] as Case[]).entries()) {
    const verified = (await expect(`attestation ${i} (${c["desc"]})`, c, async () =>
      verifyAttestation(c["document"], parseSpecifications(c["specs"]), {
        nonce: fromHex(c["nonce"]),
        nowMs: c["now_ms"],
      }),
    )) as VerifiedAttestation | undefined;
    if (
      verified &&
      (!verified.simulated ||
        toHex(verified.kemPublicKey) !== attestation["kem_public_key"] ||
        toHex(verified.verifyKey) !== attestation["verify_key"])
    ) {
      note(`attestation ${i}`, "verified keys or simulated flag differ");
    }
  }

  // The room: definition, commits, state
  const room = vectors["room"];
  const coreKey = fromHex(attestation["verify_key"]);
  for (const [i, c] of (room["definition_cases"] as Case[]).entries()) {
    await expect(`definition ${i} (${c["desc"]})`, c, () =>
      verifyDefinition(room["room_id"], c["definition"], c["signature"], coreKey),
    );
  }
  for (const [i, c] of (room["history_cases"] as Case[]).entries()) {
    const history = (await expect(`history ${i} (${c["desc"]})`, c, () =>
      verifyHistory(room["room_id"], c["commits"], coreKey),
    )) as Awaited<ReturnType<typeof verifyHistory>> | undefined;
    if (history) {
      const ids = history.commits.map((x) => x.commitId).join();
      const expected = (room["commits"] as Case[]).slice(0, history.commits.length).map((x) => x["commit_id"]).join();
      if (ids !== expected || history.pins.join() !== room["pins"].slice(0, history.pins.length).join()) {
        note(`history ${i}`, "commit ids or pins differ");
      }
    }
  }
  for (const [i, c] of (room["state_cases"] as Case[]).entries()) {
    const state = (await expect(`state ${i} (${c["desc"]})`, c, () =>
      verifyRoomState(room["room_id"], c["state"], c["signature"], coreKey, c["min_version"]),
    )) as { version: number } | undefined;
    if (state && state.version !== c["version"]) note(`state ${i}`, "version differs");
  }

  // The audit log and its export
  const audit = vectors["audit"];
  const events = eventsFromWire(audit["entries"]);
  const hashes = await Promise.all(events.map(eventLeafHash));
  if (hashes.map(toHex).join() !== audit["leaf_hashes"].join()) note("audit", "leaf hashes differ");
  if (formatLines(events) !== audit["lines"]) note("audit", "the line format differs");
  for (const [i, c] of (audit["cases"] as Case[]).entries()) {
    await expect(`audit ${i} (${c["desc"]})`, c, async () => {
      const origin = roomOrigin(audit["room_id"]);
      const previous = c["previous"] ? await openCheckpoint(c["previous"], origin, coreKey) : null;
      return verifyLog(audit["room_id"], eventsFromWire(c["entries"]), c["note"], coreKey, previous);
    });
  }
  try {
    const log = await verifyLog(audit["room_id"], events, audit["note"], coreKey);
    const verifiedRoom = {
      roomId: room["room_id"],
      definitionText: room["definition"],
      commits: (await verifyHistory(room["room_id"], room["history_cases"][0]["commits"], coreKey)).commits,
    };
    const exported = buildAuditExport(
      { ...log, entries: [], size: log.checkpoint.size, rootHash: "", previous: null, previousSize: null },
      verifiedRoom as never,
      coreKey,
    );
    if (fromUtf8(exported) !== audit["export"]) note("audit export", "differs from the Python export");
  } catch (error) {
    note("audit export", `failed: ${(error as Error).message}`);
  }

  // Result releases
  const releases = vectors["result_release"];
  const recipient = await recipientFromPrivateBytes(fromHex(releases["recipient_private_key"]));
  if (toHex(recipient.publicKeyRaw) !== releases["recipient_public_key"]) note("result", "recipient key differs");
  for (const [i, c] of (releases["cases"] as Case[]).entries()) {
    const plaintext = (await expect(`result ${i} (${c["desc"]})`, c, () =>
      openResult({
        core: { verifyKey: fromHex(releases["verify_key"]), kemPublicKey: new Uint8Array(32) },
        roomId: c["room_id"],
        node: c["node"],
        jobId: c["job_id"],
        parameters: c["parameters"],
        recipient,
        format: c["format"],
        formatHeader: c["format_header"],
        sealed: fromHex(c["sealed"]),
        signatureHex: c["signature"],
      }),
    )) as Uint8Array | undefined;
    if (plaintext && toHex(plaintext) !== releases["plaintext"]) note(`result ${i}`, "plaintext differs");
  }

  // CSV
  for (const [i, c] of (vectors["csv"] as Case[]).entries()) {
    try {
      const table = parseCsv(c["text"]);
      if (c["error"]) note(`csv ${i}`, "parsed, expected an error");
      else if (JSON.stringify([table.columns, table.rows]) !== JSON.stringify([c["columns"], c["rows"]])) {
        note(`csv ${i}`, `parsed as ${JSON.stringify(table)}`);
      }
    } catch (error) {
      if (!c["error"]) note(`csv ${i}`, `refused: ${(error as Error).message}`);
    }
  }
  return mismatches;
}

// -- against the live server ------------------------------------------------------------------

function bearer(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** What a test can assert on of a verified attestation. */
export interface AttestationSummary {
  simulated: boolean;
  provider: string;
  measurement: string;
  coreVersion: string;
  kemPublicKey: string;
  verifyKey: string;
  nonce: string;
  warning: string;
}

async function attested(specs: unknown, token?: string, nonceHex?: string): Promise<VerifiedAttestation> {
  const parsed: EnclaveSpecification[] = parseSpecifications(specs);
  return attest(makeFetcher(bearer(token)), parsed, nonceHex ? { nonce: fromHex(nonceHex) } : {});
}

/** Attest the server's core with a fresh nonce (or `nonceHex`) against `specs` (their JSON
 * form, as EnclaveSpecification.to_dict writes it). */
export async function attestLive(specs: unknown, nonceHex?: string, token?: string): Promise<AttestationSummary> {
  const verified = await attested(specs, token, nonceHex);
  return {
    simulated: verified.simulated,
    provider: verified.provider,
    measurement: verified.measurement,
    coreVersion: verified.coreVersion,
    kemPublicKey: toHex(verified.kemPublicKey),
    verifyKey: toHex(verified.verifyKey),
    nonce: verified.document.nonce,
    warning: verified.warning,
  };
}

/** Attest, then verify the room's audit log against the checkpoint saved in this browser. */
export async function verifyAuditLive(roomId: string, token: string, specs: unknown) {
  const core = await attested(specs, token);
  const fetcher = makeFetcher(bearer(token));
  const log = await verifyAuditLog(roomId, fetcher, core);
  if (log.size > 0) await verifyEntryIncluded(roomId, fetcher, log, log.size - 1);
  return {
    size: log.size,
    rootHash: log.rootHash,
    previousSize: log.previousSize,
    actions: log.entries.map((e) => e.action),
    entries: log.entries.map((e) => ({ seq: e.seq, user: e.user, label: e.label, description: e.description })),
    lines: formatLines(log.events),
  };
}

/** Attest, verify, and return the export file `sealroom audit verify` checks, as text. */
export async function exportAuditLive(roomId: string, token: string, specs: unknown): Promise<string> {
  const core = await attested(specs, token);
  return fromUtf8(await exportAuditLog(roomId, makeFetcher(bearer(token)), core));
}

/** Attest, then verify the room's definition, commits and signed state. */
export async function verifyRoomLive(roomId: string, token: string, specs: unknown) {
  const core = await attested(specs, token);
  const room = await verifyRoom(roomId, makeFetcher(bearer(token)), core);
  return {
    roomId: room.roomId,
    definitionSha256: await sha256Hex(utf8(room.definitionText)),
    name: room.definition["name"],
    commits: room.commits.length,
    historyPin: room.historyPin,
    status: room.status,
    version: room.state.version,
    datasets: room.state.datasets,
  };
}

const recipients = new Map<string, Recipient>();

/** A fresh non-extractable recipient key pair held by this page; returns its handle and raw
 * public key (hex) for the test to submit a job with. */
export async function newRecipientLive(): Promise<{ handle: string; publicKey: string }> {
  const recipient = await generateRecipient();
  const publicKey = toHex(recipient.publicKeyRaw);
  recipients.set(publicKey, recipient);
  return { handle: publicKey, publicKey };
}

/** Fetch a job's sealed result (the participant's `proof` header given by the test), verify
 * the core's release with the attested key and open it with the recipient `handle`. */
export async function openResultLive(options: {
  token: string;
  specs: unknown;
  handle: string;
  roomId: string;
  node: string;
  jobId: string;
  parameters?: Record<string, string>;
  format?: string | null;
  proof: string;
}) {
  const recipient = recipients.get(options.handle);
  if (recipient === undefined) throw new Error("no recipient key of that handle in this page");
  const core = await attested(options.specs, options.token);
  const fetcher = makeFetcher(bearer(options.token));
  const sealed = await fetchSealedResult(fetcher, options.jobId, recipient.publicKeyRaw, {
    format: options.format ?? null,
    proof: options.proof,
  });
  const plaintext = await openResult({
    core,
    roomId: options.roomId,
    node: options.node,
    jobId: options.jobId,
    parameters: options.parameters ?? {},
    recipient,
    format: options.format ?? null,
    formatHeader: sealed.formatHeader,
    sealed: sealed.sealed,
    signatureHex: sealed.signatureHex,
  });
  const text = fromUtf8(plaintext);
  const table = parseCsv(text);
  return { text, columns: table.columns, rows: table.rows, format: sealed.formatHeader };
}
