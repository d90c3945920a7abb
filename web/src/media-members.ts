// Who is in each participant group of a media room after the membership requests its verified
// history integrated: the browser's counterpart of sealroom/media/members.py (current_groups),
// checked against the same known answers (tests/vectors/web/media-members.json).
//
// Invariants (as in members.py):
// * The groups start as the room's configuration (part of the room id) and change only by
//   integrated commits whose note records a membership change, requested by someone of that
//   group with MANAGE_USERS, granting exactly the roles the note's permissions map to (or
//   withdrawing every role the person held) — nothing else.
// * Roles come from the published definition's nodes and the permission → role maps of
//   media/layout.py (TABLE_OWNERS, ANALYSTS): the core enforces those roles whatever this shows.

import type { Definition } from "./render";
import { compactJson, type Group, type MediaConfig } from "./media";
import { sameEmail, withCommit, type CommitJson } from "./requests";

export const MEMBER_NOTE = "sealroom.media v1 member ";

const ALL = ["VIEW_OVERLAP", "VIEW_INSIGHTS", "PROVIDE_SEED_AUDIENCE", "PROVIDE_BASE_AUDIENCE", "CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE", "MODEL_QUALITY", "MANAGE_USERS"];

/** media/layout.py: the permission that makes a group's people data owners of each table. */
const TABLE_OWNERS: Record<string, string[]> = {
  matching: ["PROVIDE_BASE_AUDIENCE"],
  segments: ["PROVIDE_BASE_AUDIENCE"],
  demographics: ["PROVIDE_BASE_AUDIENCE"],
  embeddings: ["PROVIDE_BASE_AUDIENCE"],
  audiences: ["PROVIDE_SEED_AUDIENCE"],
  custom_audiences: ["CREATE_CUSTOM_AUDIENCE"],
};

/** media/layout.py ANALYSTS: who runs each computation. */
const ANALYSTS: Record<string, string[]> = {
  overlap_statistics: ["VIEW_OVERLAP"],
  insights: ["VIEW_INSIGHTS"],
  data_attributes: ["VIEW_INSIGHTS", "CREATE_CUSTOM_AUDIENCE"],
  seed_audience_list: ALL,
  custom_audience_list: ALL,
  audience_size: ["CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE"],
  audience_user_list: ["EXPORT_AUDIENCE"],
  lookalike_statistics: ["MODEL_QUALITY", "CREATE_CUSTOM_AUDIENCE"],
};

/** MembershipChange: `email` joins `group` with `permissions`, or leaves it (none). */
export interface Change {
  group: string;
  email: string;
  permissions: string[];
}

/** MembershipChange.note: the marker, then the change as sorted compact JSON (ASCII). */
export function noteOf(change: Change): string {
  return MEMBER_NOTE + compactJson({ group: change.group, email: change.email, permissions: change.permissions });
}

/** members.check_new_member: why `email` cannot be asked to join `group` with `permissions`
 * (null: they can). `groups` are the room's current groups. */
export function newMemberProblem(groups: Group[], group: Group, email: string, permissions: string[]): string | null {
  const existing = groups.find((g) => g.emails.some((e) => sameEmail(e, email)));
  if (existing) return `${email} is already in participant group “${existing.role}”`;
  if (!permissions.length) return `${email}: give them at least one of the group's permissions`;
  const extra = permissions.filter((p) => !group.permissions.includes(p));
  if (extra.length) return `${email} cannot have ${extra.join(", ")}: group “${group.role}” does not have it`;
  return null;
}


/** MembershipChange.from_note: the change a note records, or null. */
export function changeOf(note: string): Change | null {
  if (!note.startsWith(MEMBER_NOTE)) return null;
  try {
    const data = JSON.parse(note.slice(MEMBER_NOTE.length)) as Record<string, unknown>;
    const permissions = data["permissions"];
    if (typeof data["group"] !== "string" || typeof data["email"] !== "string" || !Array.isArray(permissions)) return null;
    if (!permissions.every((p) => typeof p === "string" && ALL.includes(p))) return null;
    return { group: data["group"], email: data["email"], permissions: permissions as string[] };
  } catch {
    return null;
  }
}

/** members.member_roles, from the room's nodes (build_definition made exactly these). */
export function memberRoles(definition: Definition, permissions: string[]): { owns: string[]; runs: string[] } {
  const has = (needed: string[] | undefined): boolean => (needed ?? []).some((p) => permissions.includes(p));
  const owns: string[] = [];
  const runs: string[] = [];
  for (const node of definition.nodes) {
    if (node.kind === "table" || node.kind === "raw") {
      if (has(TABLE_OWNERS[node.name])) owns.push(node.name);
    } else if (has(ANALYSTS[node.name])) {
      runs.push(node.name);
    }
  }
  return { owns, runs };
}

/** Group.permissions_of: what `email`, one of the group's people, may do. */
export function permissionsOf(group: Group, email: string): string[] {
  for (const [member, permissions] of Object.entries(group.memberPermissions ?? {})) {
    if (sameEmail(member, email)) return permissions;
  }
  return group.permissions;
}

/** members.may_manage: `requester` is in the group and may manage its people. */
export function mayManage(groups: Group[], requester: string, groupId: string): boolean {
  const group = groups.find((g) => g.id === groupId);
  return !!group && group.emails.some((e) => sameEmail(e, requester)) && permissionsOf(group, requester).includes("MANAGE_USERS");
}

const sameSet = (a: string[], b: string[]): boolean => {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
};

/** members.fits: the commit (built on `before`) does exactly what the change says. */
export function fits(change: Change, before: Definition, commit: CommitJson): boolean {
  if (commit.nodes.length || commit.identities.length) return false;
  const owners = commit.owners ?? [];
  const withdrawals = commit.withdrawals ?? [];
  if (!change.permissions.length) {
    const held = before.participants.find((p) => sameEmail(p.email, change.email));
    if (!held || commit.analysts.length || owners.length || withdrawals.length !== 1) return false;
    const w = withdrawals[0]!;
    return sameEmail(w.email, change.email) && sameSet(w.analyst_of ?? [], held.analyst_of)
      && sameSet(w.data_owner_of ?? [], held.data_owner_of) && !(held.permissions ?? []).length;
  }
  const isParticipant = sameEmail(before.owner, change.email) || before.participants.some((p) => sameEmail(p.email, change.email));
  if (withdrawals.length || isParticipant) return false;
  const { owns, runs } = memberRoles(before, change.permissions);
  const one = (grants: { email: string; names: string[] }[], names: string[]): boolean =>
    names.length ? grants.length === 1 && sameEmail(grants[0]!.email, change.email) && sameSet(grants[0]!.names, names) : grants.length === 0;
  return one(commit.analysts.map((g) => ({ email: g.email, names: g.analyst_of })), runs)
    && one(owners.map((g) => ({ email: g.email, names: g.data_owner_of })), owns);
}

/** members.current_groups: the configuration's groups after every membership change the
 * verified history records that counts. */
export function currentGroups(config: MediaConfig, published: Definition, commits: CommitJson[]): Group[] {
  let groups = config.participantGroups.map((g) => structuredClone(g));
  let definition = published;
  for (const commit of commits) {
    const change = changeOf(commit.note);
    if (change && mayManage(groups, commit.requester, change.group) && fits(change, definition, commit)) {
      groups = groups.map((g) => (g.id === change.group ? changed(g, change) : g));
    }
    definition = withCommit(definition, commit);
  }
  return groups;
}

function changed(group: Group, change: Change): Group {
  const emails = group.emails.filter((e) => !sameEmail(e, change.email));
  const members: Record<string, string[]> = {};
  for (const [e, p] of Object.entries(group.memberPermissions ?? {})) if (!sameEmail(e, change.email)) members[e] = p;
  if (change.permissions.length) {
    emails.push(change.email);
    if (!sameSet(change.permissions, group.permissions)) members[change.email] = change.permissions;
  }
  const { memberPermissions: _, ...rest } = group;
  return Object.keys(members).length ? { ...rest, emails, memberPermissions: members } : { ...rest, emails };
}
