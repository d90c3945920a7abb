// The browser's counterpart of the SDK's Session: every request to the trusted core goes over
// keys this page verified itself — the core's attestation (checked here, with a visible banner
// when it is simulated), pinned per server and room — and every action is signed with the
// participant's own key, held non-extractable in this browser.
//
// Pages use one WebSession per page load (`WebSession.open()`); nothing here trusts the host's
// word for a room, a result or the audit log: each is verified before it is returned.

import * as actions from "./actions";
import { authHeaders, getJson, request, sendJson } from "./api";
import { attest, checkRoomPin, parseSpecifications, type VerifiedAttestation } from "./attestation";
import { fromBase64, fromHex, fromUtf8, sha256Hex, toBase64, toHex, utf8 } from "./bytes";
import { h } from "./dom";
import { createKey, NoKeyError, participantSigner, type Signer } from "./keys";
import { backupNotice } from "./pages/keys";
import { openResult, parseCsv, type Table } from "./results";
import { datasetKeyContext, generateRecipient, openSealed, seal, statisticsContext, type Recipient } from "./sealing";
import { verifyRoom, verifyStatisticsRelease, type VerifiedRoom as SignedRoom } from "./signed";
import type { Definition } from "./render";
import { sameEmail, withCommit, type CommitJson } from "./requests";
import { makeFetcher } from "./trust";

type VerifiedCore = VerifiedAttestation;

/** Attest the core of this server (once per page), against the cores this installation trusts. */
async function attestCore(): Promise<VerifiedCore> {
  const fetcher = makeFetcher(authHeaders());
  const specs = parseSpecifications(await fetcher.json("/web/enclave-specifications.json"));
  return attest(fetcher, specs);
}

async function pinRoom(roomId: string, core: VerifiedCore): Promise<void> {
  checkRoomPin(roomId, core);
}

/** A verified room with its *current* definition: the published one and its integrated commits
 * applied (computations, analysts and data owners added, roles withdrawn, identities rebound:
 * the core checked each before signing it; this only shows it). */
export interface VerifiedRoom extends Omit<SignedRoom, "definition"> {
  readonly published: Record<string, unknown>;
  readonly definition: Definition;
}

export function applyCommits(room: SignedRoom): Definition {
  let definition = structuredClone(room.definition) as unknown as Definition;
  definition.identities ??= [];
  for (const { commit } of room.commits) {
    definition = withCommit(definition, commit as unknown as CommitJson);
    for (const identity of (commit["identities"] ?? []) as { email: string }[]) {
      const list = definition.identities as { email: string }[];
      const index = list.findIndex((known) => sameEmail(known.email, identity.email));
      if (index >= 0) list[index] = identity;
    }
  }
  return definition;
}

export interface SubmittedJob {
  jobId: string;
  roomId: string;
  node: string;
  parameters: Record<string, string>;
  recipient: Recipient;
}

export interface JobResult {
  table: Table;
  csv: string;
}

let opened: Promise<WebSession> | null = null;

export class WebSession {
  private readonly rooms = new Map<string, Promise<VerifiedRoom>>();

  private constructor(
    readonly email: string,
    readonly core: VerifiedCore,
    private readonly signer: Signer,
  ) {}

  /** The page's session: the core attested (once per page), the user's key ready. */
  static open(): Promise<WebSession> {
    opened ??= (async () => {
      if (!window.isSecureContext || !crypto.subtle) {
        throw new Error(
          "this page is not a secure context, so the browser cannot encrypt: open the app on " +
            "127.0.0.1, or serve it over HTTPS (sealroom serve --tls-cert/--tls-key, or a reverse proxy)",
        );
      }
      const email = document.querySelector<HTMLMetaElement>('meta[name="sealroom-user"]')?.content ?? "";
      const core = await attestCore();
      showAttestation(core);
      return new WebSession(email, core, await signerFor(email));
    })();
    return opened;
  }

  /** The room's current definition, verified: hashes to the id, signed by the attested core. */
  room(roomId: string, fresh = false): Promise<VerifiedRoom> {
    if (fresh || !this.rooms.has(roomId)) {
      this.rooms.set(roomId, (async () => {
        await pinRoom(roomId, this.core);
        const signed = await verifyRoom(roomId, makeFetcher(authHeaders()), this.core);
        return { ...signed, published: signed.definition, definition: applyCommits(signed) };
      })());
    }
    return this.rooms.get(roomId)!;
  }

  async prove(call: actions.ActionCall | Promise<actions.ActionCall>, room?: VerifiedRoom): Promise<string> {
    return this.signer.prove(call, room?.definition as never);
  }

  // -- rooms -------------------------------------------------------------------------------
  /** Publish the canonical definition text (already checked by the caller) as it is. */
  async publishRoom(definitionText: string, roomId: string): Promise<string> {
    const proof = await this.signer.prove(actions.publishRoom(roomId), JSON.parse(definitionText) as never);
    const published = await sendJson<{ room_id: string }>("/v1/rooms", {
      method: "POST",
      jsonText: `{"definition":${definitionText}}`,
      proof,
    });
    if (published.room_id !== roomId) {
      throw new Error(`the server published room ${published.room_id}, but the definition hashes to ${roomId}`);
    }
    await pinRoom(roomId, this.core);
    return roomId;
  }

  // -- datasets ----------------------------------------------------------------------------
  /** Seal the dataset key to the attested core, bound to this room, node and dataset, and
   * publish it. The key never leaves this browser in the clear. */
  async publishDataset(
    roomId: string,
    node: string,
    datasetId: string,
    key: Uint8Array,
    replacePassing = false,
    replaces?: string,
  ): Promise<Record<string, unknown>> {
    await pinRoom(roomId, this.core);
    const sealed = await seal(this.core.kemPublicKey, key, datasetKeyContext(roomId, node, datasetId));
    const call = actions.publishDataset(roomId, node, datasetId, sealed, replacePassing, replaces);
    const room = await this.room(roomId);
    const condition = replaces === undefined ? {} : { replaces };
    return sendJson(`/v1/rooms/${roomId}/nodes/${node}/dataset`, {
      method: "PUT",
      json: { dataset_id: datasetId, sealed_key: toBase64(sealed), replace_passing: replacePassing, ...condition },
      proof: await this.prove(call, room),
    });
  }

  async validationReport(roomId: string, node: string): Promise<Record<string, unknown>> {
    const room = await this.room(roomId);
    const call = actions.retrieveValidationReport(roomId, node);
    return (await (await request(`/v1/rooms/${roomId}/nodes/${node}/validation-report`, {
      proof: await this.prove(call, room),
    })).json()) as Record<string, unknown>;
  }

  /** The dataset's summary statistics, sealed by the core to a key made here for them, checked
   * against the core's signature, opened here (the host relays them unread). */
  async statistics(roomId: string, node: string): Promise<Record<string, unknown>> {
    const room = await this.room(roomId);
    const recipient = await generateRecipient();
    const call = actions.retrieveDatasetStatistics(roomId, node, recipient.publicKeyRaw);
    const answer = await sendJson<{ dataset_id: string; sealed: string; signature: string }>(
      `/v1/rooms/${roomId}/nodes/${node}/statistics`,
      { method: "POST", json: { recipient_public_key: toHex(recipient.publicKeyRaw) }, proof: await this.prove(call, room) },
    );
    const sealed = fromBase64(answer.sealed);
    await pinRoom(roomId, this.core);
    await verifyStatisticsRelease(
      { roomId, node, datasetId: answer.dataset_id, recipientPublicKey: toHex(recipient.publicKeyRaw), sealedSha256: await sha256Hex(sealed) },
      fromHex(answer.signature),
      this.core.verifyKey,
    );
    const plain = await openSealed(recipient, sealed, statisticsContext(roomId, node, answer.dataset_id));
    return { ...(JSON.parse(fromUtf8(plain)) as Record<string, unknown>), dataset_id: answer.dataset_id };
  }

  /** Share (or stop sharing) one dataset's statistics with the room's participants. */
  async shareStatistics(roomId: string, node: string, datasetId: string, shared: boolean): Promise<void> {
    const room = await this.room(roomId);
    await sendJson(`/v1/rooms/${roomId}/nodes/${node}/statistics/sharing`, {
      method: "PUT",
      json: { dataset_id: datasetId, shared },
      proof: await this.prove(actions.shareDatasetStatistics(roomId, node, datasetId, shared), room),
    });
  }

  // -- computations ------------------------------------------------------------------------
  async run(roomId: string, node: string, parameters: Record<string, string> = {}): Promise<SubmittedJob> {
    const room = await this.room(roomId);
    const recipient = await generateRecipient();
    const call = actions.runComputation(roomId, node, parameters, recipient.publicKeyRaw);
    const job = await sendJson<{ job_id: string }>(`/v1/rooms/${roomId}/nodes/${node}/jobs`, {
      method: "POST",
      json: { parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
      proof: await this.prove(call, room),
    });
    return { jobId: job.job_id, roomId, node, parameters, recipient };
  }

  /** Wait for the job (long polls), then fetch, verify and open its result in this browser. */
  async result(job: SubmittedJob, onStatus?: (status: string) => void): Promise<JobResult> {
    const csv = new TextDecoder("utf-8", { fatal: true }).decode(await this.resultBytes(job, "csv", onStatus));
    return { table: parseCsv(csv), csv };
  }

  /** The job's result in `format` ("csv" or "arrow" for SQL, "zip" for a script), verified and
   * opened in this browser, as bytes. */
  async resultBytes(job: SubmittedJob, format: string, onStatus?: (status: string) => void): Promise<Uint8Array> {
    const room = await this.room(job.roomId);
    for (;;) {
      const status = await getJson<{ status: string; error_message: string | null }>(
        `/v1/jobs/${job.jobId}`, { wait: "20" },
      );
      onStatus?.(status.status);
      if (status.status === "failed") throw new Error(status.error_message ?? "the computation failed");
      if (status.status === "succeeded") break;
    }
    const call = actions.retrieveResult(job.roomId, job.jobId, job.recipient.publicKeyRaw, format);
    const response = await request(`/v1/jobs/${job.jobId}/result`, {
      method: "POST",
      json: { recipient_public_key: toHex(job.recipient.publicKeyRaw), format },
      proof: await this.prove(call, room),
    });
    return openResult({
      core: this.core,
      roomId: job.roomId,
      node: job.node,
      jobId: job.jobId,
      parameters: job.parameters,
      recipient: job.recipient,
      format,
      sealed: new Uint8Array(await response.arrayBuffer()),
      signatureHex: response.headers.get("Sealroom-Result-Signature") ?? "",
      formatHeader: response.headers.get("Sealroom-Result-Format") ?? "",
    });
  }
}

/** The user's signer; the first time they act in this browser, a key is made for them (and its
 * one backup offered in a banner). */
async function signerFor(email: string): Promise<Signer> {
  try {
    return await participantSigner(email);
  } catch (error) {
    if (!(error instanceof NoKeyError)) throw error;
    const { backupPem } = await createKey(email);
    document.getElementById("banners")?.append(backupNotice(email, backupPem));
    return participantSigner(email);
  }
}

/** The banner every page shows: the core's evidence verified, and SIMULATED when it is. */
function showAttestation(core: VerifiedCore): void {
  const banners = document.getElementById("banners");
  if (!banners || banners.querySelector("[data-attestation]")) return;
  banners.append(
    core.simulated
      ? h("div", { class: "banner simulated", "data-attestation": "simulated" },
          "Attestation is SIMULATED: no confidential-computing hardware protects this server's core. ",
          "This browser verified the evidence, but simulated evidence could be forged by the operator.")
      : h("div", { class: "banner", "data-attestation": "verified" },
          `The core's attestation was verified in this browser (${core.provider}).`),
  );
}

export { utf8 };
