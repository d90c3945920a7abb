// Requests and development runs in the browser: the counterpart of the SDK's RequestBuilder,
// SubmittedRequest (sealroom/analytics/_requests.py, _verified.py) and
// Session.run_development_computation.
//
// Invariants:
// * A request's id is the SHA-256 of its commit's canonical JSON, which holds floats this page
//   cannot write as Python does; the host writes the text (routes/commit_drafts.py) and nothing
//   of it is trusted: this page hashes the text itself, checks that the parsed commit says what
//   the user asked (names, code, dependencies, analysts, data owners, withdrawals, note, every
//   other field at its default) and is built on the room's verified history, and only then signs
//   `submit_request` over that hash — which is the request id, since the text is canonical
//   (canonical_json(parse(t)) = t).
// * A participant new to the room may be recognised only as the SDK's RequestBuilder does by
//   default: by the platform's CA that the verified definition trusts, on their first grant; a
//   draft that pins a key, names another root, or changes an identity is refused.
// * What an approver reads is what the core approves: a request is shown only with the text of
//   its commit hashing to its id and naming this room, the host's copies of its fields equal to
//   the commit's, and its approver groups derived here from the verified definition by the core's
//   rule (commits.approver_groups) and equal to the host's. Status, approvals and what it waits
//   for stay the host's word (the core enforces them; the audit log records each approval with
//   the approver's own signature).
// * A development computation is sent as the JSON this page built (strings and integers only),
//   and the signature covers that JSON's canonical hash, as the SDK's does.
// * Results are opened as session.result opens them: the core's release verified against the
//   attested key before anything is decrypted with the key this page made for the job.

import * as actions from "./actions";
import { getJson, request, sendJson } from "./api";
import { fromUtf8, sha256Hex, toHex, utf8 } from "./bytes";
import type { Json } from "./canonical";
import { DATA_KINDS, dependenciesOf, type Definition, type NodeDef } from "./render";
import { openResult, parseCsv, type Table } from "./results";
import { generateRecipient } from "./sealing";
import type { SubmittedJob, VerifiedRoom, WebSession } from "./session";
import { isObject, VerificationError } from "./trust";

export function sameEmail(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function nodeNamed(definition: Definition, name: string): NodeDef | undefined {
  return definition.nodes.find((node) => node.name.toLowerCase() === name.toLowerCase());
}

// -- what a participant may read (the development tab's "Available data") -------------------

export interface Available {
  node: NodeDef;
  /** "owner": a data node you own; "analyst": a computation whose result you may retrieve;
   * "other": a node a request may read, whose data owners then approve it. */
  role: "owner" | "analyst" | "other";
}

/** The nodes `email` may read in a development computation (model/development.py's rule: data
 * nodes they own, results of computations they are analyst of; never a preview node). */
export function availableData(definition: Definition, email: string): Available[] {
  const me = definition.participants.find((p) => sameEmail(p.email, email));
  if (!me) return [];
  const grants = (me.permissions ?? []) as { kind?: string; node?: string }[];
  const owns = (name: string): boolean =>
    me.data_owner_of.includes(name) || grants.some((g) => g.kind === "leaf_crud" && g.node === name);
  const reads = (name: string): boolean =>
    me.analyst_of.includes(name) || grants.some((g) => g.kind === "retrieve_compute_result" && g.node === name);
  const found: Available[] = [];
  for (const node of definition.nodes) {
    if (DATA_KINDS.has(node.kind)) {
      if (owns(node.name)) found.push({ node, role: "owner" });
    } else if (node.kind !== "preview" && reads(node.name)) {
      found.push({ node, role: "analyst" });
    }
  }
  return found;
}

// -- approver groups, by the core's rule --------------------------------------------------------

export interface ApproverGroup {
  node: string;
  approvers: string[];
}

/** The definition with a commit applied (commits.apply_commit, for reading only: the core
 * checked what it integrates, and checks what it is sent): roles withdrawn, then computations,
 * analysts and data owners added; someone left with no role leaves the room. */
export function withCommit(definition: Definition, commit: CommitJson): Definition {
  const applied = structuredClone(definition);
  applied.identities ??= [];
  applied.nodes.push(...structuredClone(commit.nodes));
  for (const withdrawal of commit.withdrawals ?? []) {
    const index = applied.participants.findIndex((p) => sameEmail(p.email, withdrawal.email));
    if (index < 0) continue;
    const p = applied.participants[index]!;
    p.analyst_of = p.analyst_of.filter((n) => !(withdrawal.analyst_of ?? []).includes(n));
    p.data_owner_of = p.data_owner_of.filter((n) => !(withdrawal.data_owner_of ?? []).includes(n));
    if (p.analyst_of.length || p.data_owner_of.length || (p.permissions ?? []).length) continue;
    applied.participants.splice(index, 1);
    if (!sameEmail(withdrawal.email, applied.owner)) {
      applied.identities = (applied.identities as { email: string }[]).filter((i) => !sameEmail(i.email, withdrawal.email));
    }
  }
  const grant = (email: string, roles: "analyst_of" | "data_owner_of", names: string[], key?: string | null, root?: string | null): void => {
    const participant = applied.participants.find((p) => sameEmail(p.email, email));
    if (participant) {
      for (const name of names) if (!participant[roles].includes(name)) participant[roles].push(name);
      return;
    }
    applied.participants.push({ email, data_owner_of: [], analyst_of: [], permissions: [], [roles]: [...names] });
    if (key != null || root != null) (applied.identities as unknown[]).push({ email, key: key ?? null, root: root ?? null });
  };
  for (const g of commit.analysts) grant(g.email, "analyst_of", g.analyst_of, g.key, g.root);
  for (const g of commit.owners ?? []) grant(g.email, "data_owner_of", g.data_owner_of, g.key, g.root);
  return applied;
}

/** commits.affected_data_nodes: the data nodes read by a computation the commit opens,
 * directly or through other computations, each once, in the core's order. */
export function affectedDataNodes(applied: Definition, commit: CommitJson): string[] {
  const granted = commit.nodes.map((node) => node.name);
  for (const grant of commit.analysts) for (const name of grant.analyst_of) if (!granted.includes(name)) granted.push(name);
  // Then the computations it withdraws an analyst from (Commit.withdrawn_nodes).
  const withdrawn: string[] = [];
  for (const w of commit.withdrawals ?? []) for (const name of w.analyst_of ?? []) if (!withdrawn.includes(name)) withdrawn.push(name);
  granted.push(...withdrawn);
  const affected: string[] = [];
  for (const name of granted) {
    // definition.execution_plan: compute nodes depth first, inputs before readers.
    const plan: NodeDef[] = [];
    const seen = new Set<string>();
    const visit = (target: string): void => {
      if (seen.has(target.toLowerCase())) return;
      seen.add(target.toLowerCase());
      const node = nodeNamed(applied, target);
      if (!node || DATA_KINDS.has(node.kind)) return;
      for (const dependency of dependenciesOf(node)) visit(dependency);
      plan.push(node);
    };
    visit(name);
    for (const compute of plan) {
      for (const dependency of dependenciesOf(compute)) {
        const data = nodeNamed(applied, dependency);
        if (data && DATA_KINDS.has(data.kind) && !affected.includes(data.name)) affected.push(data.name);
      }
    }
  }
  return affected;
}

/** commits.approver_groups for a commit that adds computations, analysts and data owners, or
 * withdraws roles (one group per affected data node that has an owner; any one of its owners
 * approves for it; never someone the commit makes an owner of that node). */
export function approverGroups(applied: Definition, commit: CommitJson): ApproverGroup[] {
  if (commit.identities.length) {
    throw new VerificationError("this request changes how the room recognises a participant: review it with the SDK or the CLI");
  }
  const emails = applied.participants.map((p) => p.email);
  if (!emails.some((email) => sameEmail(email, applied.owner))) emails.unshift(applied.owner);
  const names = affectedDataNodes(applied, commit);
  const changes = [...(commit.owners ?? []), ...(commit.withdrawals ?? [])];
  for (const change of changes) {
    for (const changed of change.data_owner_of ?? []) {
      const node = nodeNamed(applied, changed);
      if (node && !names.includes(node.name)) names.push(node.name);
    }
  }
  const groups: ApproverGroup[] = [];
  for (const name of names) {
    const isNew = (email: string): boolean =>
      (commit.owners ?? []).some((g) => sameEmail(g.email, email) && g.data_owner_of.includes(name));
    const approvers = emails.filter((email) => {
      const p = applied.participants.find((q) => sameEmail(q.email, email));
      if (!p || isNew(email)) return false;
      const grants = (p.permissions ?? []) as { kind?: string; node?: string }[];
      return p.data_owner_of.includes(name) || grants.some((g) => g.kind === "leaf_crud" && g.node === name);
    });
    if (approvers.length) groups.push({ node: name, approvers });
  }
  return groups;
}

function sameGroups(a: readonly ApproverGroup[], b: readonly ApproverGroup[]): boolean {
  const key = (groups: readonly ApproverGroup[]): string =>
    JSON.stringify(groups.map((g) => [g.node, g.approvers.map((e) => e.toLowerCase()).sort()]).sort());
  return key(a) === key(b);
}

// -- commits ----------------------------------------------------------------------------------

export interface CommitJson {
  version: number;
  room_id: string;
  history_pin: string;
  requester: string;
  note: string;
  nodes: NodeDef[];
  analysts: { email: string; analyst_of: string[]; key?: string | null; root?: string | null }[];
  identities: { email: string }[];
  /** Present only when not empty (commits.Commit.canonical_bytes). */
  owners?: { email: string; data_owner_of: string[]; key?: string | null; root?: string | null }[];
  withdrawals?: { email: string; data_owner_of?: string[]; analyst_of?: string[] }[];
}

function optionalList(value: unknown, check: (item: Record<string, unknown>) => boolean): boolean {
  return value === undefined || (Array.isArray(value) && value.every((item) => isObject(item) && check(item)));
}

/** Parse a commit's canonical text, checking its shape (not its meaning: see the callers). */
function parseCommitText(text: string, what: string): CommitJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new VerificationError(`${what}: the server sent a commit that is not JSON`);
  }
  if (
    !isObject(parsed) ||
    typeof parsed["room_id"] !== "string" ||
    typeof parsed["history_pin"] !== "string" ||
    typeof parsed["requester"] !== "string" ||
    typeof parsed["note"] !== "string" ||
    !Array.isArray(parsed["nodes"]) ||
    !parsed["nodes"].every((n) => isObject(n) && typeof n["name"] === "string" && typeof n["kind"] === "string") ||
    !Array.isArray(parsed["analysts"]) ||
    !parsed["analysts"].every((a) => isObject(a) && typeof a["email"] === "string" && Array.isArray(a["analyst_of"])) ||
    !Array.isArray(parsed["identities"]) ||
    !optionalList(parsed["owners"], (o) => typeof o["email"] === "string" && Array.isArray(o["data_owner_of"])) ||
    !optionalList(parsed["withdrawals"], (w) => typeof w["email"] === "string" && Array.isArray(w["data_owner_of"] ?? []) && Array.isArray(w["analyst_of"] ?? []))
  ) {
    throw new VerificationError(`${what}: the server sent a malformed commit`);
  }
  return parsed as unknown as CommitJson;
}

// -- drafting a request -------------------------------------------------------------------------

/** One computation a request adds, as the user wrote it. */
export interface ComputationInput {
  kind: "sql" | "python" | "r";
  name: string;
  code: string;
  /** null (SQL only): the tables the query names, resolved by the host and checked here to be
   * nodes of the room. */
  dependencies: string[] | null;
  minimumRowsCount: number | null;
}

export interface RequestInput {
  note: string;
  computations: ComputationInput[];
  /** e-mail → the computations they become analyst of. */
  analysts: Record<string, string[]>;
  /** e-mail → the data nodes they become a data owner of. */
  owners?: Record<string, string[]>;
  /** e-mail → the roles withdrawn from them. */
  withdrawals?: Record<string, { analyst_of: string[]; data_owner_of: string[] }>;
}

export interface CheckedDraft {
  /** The canonical text: submitted byte for byte. */
  text: string;
  /** Its SHA-256: the request id once submitted. */
  requestId: string;
  commit: CommitJson;
  /** Derived here from the verified definition (and equal to the host's). */
  groups: ApproverGroup[];
}

/** The defaults of every field of a node the user did not set (model/definition.py). A draft
 * whose node differs from them in any field was not what the user asked. */
const NODE_DEFAULTS: Record<string, Record<string, unknown>> = {
  sql: {
    minimum_rows_count: null, dp_epsilon: null, dp_delta: 1e-6, dp_max_rows_per_unit: 1,
    dp_bounds: [], parameters: [], rate_limit: null,
  },
  python: {
    additional_files: [], enable_logs_on_error: false, enable_logs_on_success: false,
    output: "/output", parameters: [], rate_limit: null,
  },
  r: {
    additional_files: [], enable_logs_on_error: false, enable_logs_on_success: false,
    output: "/output", parameters: [], rate_limit: null,
  },
};

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return a === b;
}

/** Ask the host for the commit of `input` on the room's current history, and check it here.
 * Throws (VerificationError, or the core's refusal as an ApiError) when it is not right. */
export async function draftRequest(session: WebSession, room: VerifiedRoom, input: RequestInput): Promise<CheckedDraft> {
  const draft = await sendJson<{ commit: string; request_id: string; history_pin: string; approver_groups: ApproverGroup[] }>(
    `/v1/rooms/${room.roomId}/commit-drafts`,
    {
      json: {
        note: input.note,
        computations: input.computations.map((c) => ({
          kind: c.kind, name: c.name, code: c.code, dependencies: c.dependencies, minimum_rows_count: c.minimumRowsCount,
        })),
        analysts: input.analysts,
        owners: input.owners ?? {},
        withdrawals: input.withdrawals ?? {},
      },
    },
  );
  return checkDraft(session.email, room, input, draft.commit, draft.approver_groups);
}

/** The checks of draftRequest (exported for tests of what a lying host gets refused). */
export async function checkDraft(
  email: string, room: VerifiedRoom, input: RequestInput, text: string, hostGroups: ApproverGroup[],
): Promise<CheckedDraft> {
  const what = "the request the server drafted";
  const commit = parseCommitText(text, what);
  const refuse = (why: string): never => {
    throw new VerificationError(`${what} is not what you asked for: ${why}. Nothing was submitted.`);
  };
  if (commit.version !== 2) refuse("another commit format");
  if (commit.room_id !== room.roomId) refuse("it is for another room");
  if (commit.history_pin !== room.historyPin) refuse("it is built on another history of the room than the one verified here");
  if (!sameEmail(commit.requester, email)) refuse(`it names ${commit.requester} as requester`);
  if (commit.note !== input.note) refuse("another note");
  if (commit.identities.length) refuse("it changes how the room recognises a participant");
  if (commit.nodes.length !== input.computations.length) refuse("another number of computations");
  const known = new Set([...room.definition.nodes, ...commit.nodes].map((n) => n.name.toLowerCase()));
  commit.nodes.forEach((node, index) => {
    const asked = input.computations[index]!;
    const { kind, name, dependencies, ...rest } = node as Record<string, unknown>;
    if (kind !== asked.kind || name !== asked.name) refuse(`computation ${index + 1} is not ${asked.kind} ${asked.name}`);
    const codeField = asked.kind === "sql" ? "query" : "script";
    if (rest[codeField] !== asked.code) refuse(`the code of ${asked.name} differs from yours`);
    delete rest[codeField];
    if (!Array.isArray(dependencies) || !dependencies.every((d) => typeof d === "string" && known.has(d.toLowerCase()))) {
      refuse(`${asked.name} reads nodes the room does not have`);
    }
    if (asked.dependencies !== null && !sameJson(dependencies, asked.dependencies)) refuse(`${asked.name} reads other nodes than you chose`);
    const defaults = { ...NODE_DEFAULTS[asked.kind] };
    if (asked.kind === "sql") defaults["minimum_rows_count"] = asked.minimumRowsCount;
    if (!sameJson(rest, defaults)) refuse(`${asked.name} has settings you did not choose`);
  });
  // Someone new to the room is recognised by the platform's CA the verified definition trusts
  // (RequestBuilder's default), on their first grant (analysts before owners); anyone else
  // keeps how the room recognises them.
  const recognised = new Set<string>();
  const recognition = (email: string): string | null => {
    const person = email.trim().toLowerCase();
    const inRoom = sameEmail(room.definition.owner, email) || room.definition.participants.some((p) => sameEmail(p.email, email));
    if (inRoom || recognised.has(person)) return null;
    recognised.add(person);
    const roots = (Array.isArray(room.definition["trust_roots"]) ? room.definition["trust_roots"] : []) as { name?: unknown; operator?: unknown }[];
    const platform = roots.find((r) => r.operator === true);
    if (!platform || typeof platform.name !== "string") refuse(`${email} is new to the room, which does not trust the platform's CA`);
    return platform!.name as string;
  };
  const checkGrants = (
    word: string, got: { email: string; names: string[]; key?: string | null; root?: string | null }[], asked: Record<string, string[]>,
  ): void => {
    const grants = Object.entries(asked).filter(([, names]) => names.length);
    if (got.length !== grants.length) refuse(`other ${word}`);
    got.forEach((grant, index) => {
      const [askedEmail, names] = grants[index]!;
      if (grant.email !== askedEmail || !sameJson(grant.names, names)) refuse(`other ${word} than ${askedEmail} of ${names.join(", ")}`);
      if ((grant.key ?? null) !== null || (grant.root ?? null) !== recognition(grant.email)) refuse(`it sets how the room recognises ${grant.email}`);
    });
  };
  checkGrants("analysts", commit.analysts.map((g) => ({ ...g, names: g.analyst_of })), input.analysts);
  checkGrants("data owners", (commit.owners ?? []).map((g) => ({ ...g, names: g.data_owner_of })), input.owners ?? {});
  const withdrawals = Object.entries(input.withdrawals ?? {});
  const drafted = commit.withdrawals ?? [];
  if (drafted.length !== withdrawals.length) refuse("other withdrawals");
  drafted.forEach((w, index) => {
    const [askedEmail, roles] = withdrawals[index]!;
    if (w.email !== askedEmail || !sameJson(w.analyst_of ?? [], roles.analyst_of) || !sameJson(w.data_owner_of ?? [], roles.data_owner_of)) {
      refuse(`other roles withdrawn than ${askedEmail}'s`);
    }
  });
  const requestId = await sha256Hex(utf8(text));
  const groups = approverGroups(withCommit(room.definition, commit), commit);
  if (!sameGroups(groups, hostGroups)) {
    throw new VerificationError(`${what} names other affected data owners than the room's definition gives: do not submit it`);
  }
  return { text, requestId, commit, groups };
}

/** Submit a checked draft: `submit_request` signed over the text's hash, the text sent as is. */
export async function submitDraft(session: WebSession, room: VerifiedRoom, draft: CheckedDraft): Promise<RequestView> {
  const call: actions.ActionCall = { roomId: room.roomId, action: "submit_request", arguments: { commit: draft.requestId } };
  const body = await sendJson<RequestData>(`/v1/rooms/${room.roomId}/requests`, {
    method: "POST",
    jsonText: `{"commit":${draft.text}}`,
    proof: await session.prove(call, room),
  });
  if (body.id !== draft.requestId) throw new VerificationError("the server stored another request than the one submitted");
  return verifyRequest(room, body);
}

// -- reading requests ---------------------------------------------------------------------------

/** A request as the API returns it (wire.RequestOut). */
export interface RequestData {
  id: string;
  room_id: string;
  commit: Record<string, unknown>;
  requester: string;
  note: string;
  history_pin: string;
  status: "pending" | "ready_to_integrate" | "integrated" | "rejected" | "superseded";
  created_at_ms: number;
  updated_at_ms: number;
  approver_groups: ApproverGroup[];
  approvals: Record<string, number>;
  missing_approvals: string[];
  rejected_by: string | null;
  rejection: string | null;
}

/** A request whose commit is the one its id names (verified), and its state (the host's word). */
export interface RequestView {
  data: RequestData;
  commit: CommitJson;
  text: string;
  /** Derived here, or null when the room as verified here cannot hold the commit any more (a
   * closed request whose names were taken since): then the host's groups are shown as such. */
  groups: ApproverGroup[] | null;
}

/** verify_request: the commit's text (from the host, as every byte here) hashes to the id and
 * names this room; the host's copies agree with it; the approver groups are derived here. */
export async function verifyRequest(room: VerifiedRoom, data: RequestData): Promise<RequestView> {
  const what = `request ${String(data.id).slice(0, 12)}`;
  const { commit: text } = await getJson<{ commit: string }>(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(data.id)}/commit`);
  if ((await sha256Hex(utf8(text))) !== data.id) {
    throw new VerificationError(`the server showed ${what} with a commit that is not that request's: do not approve it`);
  }
  const commit = parseCommitText(text, what);
  // The text hashes to the id: it is what an approval approves. The listing's copy must agree.
  if (!sameJson(JSON.parse(text), data.commit)) throw altered(what, "a commit");
  if (commit.room_id !== room.roomId || data.room_id !== room.roomId) throw altered(what, "another room");
  if (data.note !== commit.note) throw altered(what, "a note");
  if (data.history_pin !== commit.history_pin) throw altered(what, "a history pin");
  if (!sameEmail(data.requester, commit.requester)) throw altered(what, "a requester");
  // Derived for a request built on the history verified here (derive_approver_groups): owners
  // change over a room's history, so a closed request's groups are the host's, shown as such.
  let groups: ApproverGroup[] | null = null;
  if (commit.history_pin === room.historyPin) groups = approverGroups(withCommit(room.definition, commit), commit);
  if (groups !== null && !sameGroups(groups, data.approver_groups)) throw altered(what, "approver groups");
  return { data, commit, text, groups };
}

function altered(what: string, field: string): VerificationError {
  return new VerificationError(`the server showed ${what} with ${field} that its commit does not have: do not act on it`);
}

export async function listRequests(room: VerifiedRoom): Promise<RequestView[]> {
  const listed = await getJson<RequestData[]>(`/v1/rooms/${room.roomId}/requests`);
  return Promise.all(listed.map((data) => verifyRequest(room, data)));
}

/** Approve, reject (with a reason) or integrate: each signed with the participant's key. */
export async function actOnRequest(
  session: WebSession, room: VerifiedRoom, requestId: string, action: "approve" | "reject" | "integrate", reason = "",
): Promise<RequestView> {
  const call = action === "approve" ? actions.approveRequest(room.roomId, requestId)
    : action === "reject" ? actions.rejectRequest(room.roomId, requestId, reason)
      : actions.integrateRequest(room.roomId, requestId);
  const body = await sendJson<RequestData>(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(requestId)}/${action}`, {
    method: "POST",
    json: action === "reject" ? { reason } : {},
    proof: await session.prove(call, room),
  });
  if (body.id !== requestId) throw new VerificationError(`the server answered for request ${requestId} with another`);
  return verifyRequest(room, body);
}

// -- running ------------------------------------------------------------------------------------

/** A development computation as this page builds it (strings, integers, booleans only). */
export type DevelopmentNode =
  | { kind: "sql"; name: string; query: string; dependencies: string[] }
  | { kind: "python" | "r"; name: string; script: string; dependencies: string[]; enable_logs_on_success: boolean; enable_logs_on_error: boolean };

export async function runDevelopment(
  session: WebSession, room: VerifiedRoom, node: DevelopmentNode, parameters: Record<string, string> = {},
): Promise<SubmittedJob> {
  const recipient = await generateRecipient();
  const nodeJson = node as unknown as Json;
  const call = await actions.runDevelopment(room.roomId, nodeJson, parameters, recipient.publicKeyRaw);
  const job = await sendJson<{ job_id: string }>(`/v1/rooms/${room.roomId}/development-jobs`, {
    method: "POST",
    json: { node, parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
    proof: await session.prove(call, room),
  });
  return { jobId: job.job_id, roomId: room.roomId, node: node.name, parameters, recipient };
}

/** Run a request's last computation before approving (its only affected data owner). */
export async function previewRequest(
  session: WebSession, room: VerifiedRoom, view: RequestView, parameters: Record<string, string> = {},
): Promise<SubmittedJob> {
  const last = view.commit.nodes.at(-1);
  if (!last) throw new Error("the request adds no computation to preview");
  const recipient = await generateRecipient();
  const call = actions.previewRequest(room.roomId, view.data.id, parameters, recipient.publicKeyRaw);
  const job = await sendJson<{ job_id: string }>(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(view.data.id)}/preview`, {
    method: "POST",
    json: { parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
    proof: await session.prove(call, room),
  });
  return { jobId: job.job_id, roomId: room.roomId, node: last.name, parameters, recipient };
}

/** A script's result: the files of its /output (from the zip the core sealed). */
export interface FilesResult {
  files: Map<string, Uint8Array>;
}

/** Wait for a script job, then fetch, verify and open its zip in this browser (as
 * session.result does for a table). */
export async function scriptResult(session: WebSession, job: SubmittedJob, room: VerifiedRoom, onStatus?: (status: string) => void): Promise<FilesResult> {
  await waitFor(job, onStatus);
  const format = "zip";
  const call = actions.retrieveResult(job.roomId, job.jobId, job.recipient.publicKeyRaw, format);
  const response = await request(`/v1/jobs/${job.jobId}/result`, {
    method: "POST",
    json: { recipient_public_key: toHex(job.recipient.publicKeyRaw), format },
    proof: await session.prove(call, room),
  });
  const plaintext = await openResult({
    core: session.core,
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
  return { files: await readZip(plaintext) };
}

async function waitFor(job: SubmittedJob, onStatus?: (status: string) => void): Promise<void> {
  for (;;) {
    const status = await getJson<{ status: string; error_message: string | null }>(`/v1/jobs/${job.jobId}`, { wait: "20" });
    onStatus?.(status.status);
    if (status.status === "failed") throw new Error(status.error_message ?? "the computation failed");
    if (status.status === "succeeded") return;
  }
}

/** The CSV files of a script's output, parsed (for showing as tables). */
export function tablesOf(result: FilesResult): Map<string, Table> {
  const tables = new Map<string, Table>();
  for (const [name, data] of result.files) {
    if (!name.toLowerCase().endsWith(".csv")) continue;
    try {
      tables.set(name, parseCsv(fromUtf8(data)));
    } catch {
      // Not a table after all: listed as a file.
    }
  }
  return tables;
}

// -- zip (the scripts' /output, as the core packs it) ---------------------------------------------

const MAX_ZIP_ENTRIES = 10_000;

/** The files of a zip archive (stored or deflated entries), read from its central directory.
 * The bytes were verified as the core's release before this runs; the checks here only keep a
 * malformed archive from reading out of bounds. */
export async function readZip(data: Uint8Array): Promise<Map<string, Uint8Array>> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const files = new Map<string, Uint8Array>();
  if (data.length === 0) return files;
  let end = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("the result is not a zip archive");
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (count > MAX_ZIP_ENTRIES) throw new Error("the result's archive has too many entries");
  for (let entry = 0; entry < count; entry++) {
    if (offset + 46 > data.length || view.getUint32(offset, true) !== 0x02014b50) throw new Error("a malformed zip archive");
    const method = view.getUint16(offset + 10, true);
    const compressed = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const local = view.getUint32(offset + 42, true);
    const name = fromUtf8(data.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/")) continue;
    if (local + 30 > data.length || view.getUint32(local, true) !== 0x04034b50) throw new Error("a malformed zip archive");
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + compressed > data.length) throw new Error("a malformed zip archive");
    const raw = data.subarray(start, start + compressed);
    if (method === 0) files.set(name, raw.slice());
    else if (method === 8) files.set(name, await inflate(raw));
    else throw new Error(`the result's archive uses compression method ${method}`);
  }
  return files;
}

async function inflate(raw: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
