// Known-answer checks of the media room rows the browser writes (media.ts) against the SDK's:
// tests/vectors/web/media.json, the vectors CustomAudience.to_row is checked against in
// tests/unit/test_media_vectors.py; and the rule-based definitions, shares and deletions the
// browser makes, against the SDK's builders and MediaDcr methods (the same file).
import {
  afterDeleting,
  afterSharing,
  AudienceChangeError,
  compactJson,
  customAudienceOf,
  customAudienceRow,
  ruleBasedDefinition,
  type CustomAudience,
  type Group,
  type MediaConfig,
  type RuleInput,
} from "../media";
import { changeOf, currentGroups, memberRoles, noteOf } from "../media-members";
import type { Definition } from "../render";
import type { CommitJson } from "../requests";

export interface MediaVectors {
  custom_audience_rows: {
    case: string;
    audience: {
      id: string;
      name: string;
      created_by: string;
      created_at: string;
      shared_with: string[];
      definition: Record<string, unknown>;
      created_by_group: string;
    };
    row: string[];
  }[];
}

/** Every difference from the vectors, one line each; none when the browser writes and reads
 * every row as the SDK does. */
export function mediaKnownAnswers(vectors: MediaVectors): string[] {
  const bad: string[] = [];
  const compareRows = (what: string, got: string[], want: string[]): void => {
    if (got.length !== want.length) bad.push(`${what}: ${got.length} columns, want ${want.length}`);
    want.forEach((cell, i) => {
      if (got[i] !== cell) bad.push(`${what}[${i}]: got ${JSON.stringify(got[i])}, want ${JSON.stringify(cell)}`);
    });
  };
  for (const v of vectors.custom_audience_rows) {
    const a = v.audience;
    const audience: CustomAudience = {
      id: a.id,
      name: a.name,
      createdBy: a.created_by,
      createdAt: a.created_at,
      sharedWith: a.shared_with,
      definition: a.definition,
      createdByGroup: a.created_by_group,
    };
    try {
      compareRows(`custom_audience_rows[${v.case}] row`, customAudienceRow(audience), v.row);
      // Read back (CustomAudience.from_row), the row is written again unchanged.
      compareRows(`custom_audience_rows[${v.case}] read back`, customAudienceRow(customAudienceOf(v.row)), v.row);
    } catch (error) {
      bad.push(`custom_audience_rows[${v.case}]: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return bad;
}

interface AudienceFields {
  id: string;
  name: string;
  created_by: string;
  created_at: string;
  shared_with: string[];
  definition: Record<string, unknown>;
  created_by_group: string;
}

export interface MediaAudienceVectors {
  rule_based_definitions: { case: string; input: RuleInput; definition: Record<string, unknown> | null }[];
  audience_changes: {
    case: string;
    audiences: AudienceFields[];
    group: string;
    action: "share" | "delete";
    ids: string[];
    participants?: string[];
    with_dependents?: boolean;
    written?: AudienceFields[];
    refused?: { code: string; audience: string };
  }[];
}

const audienceOf = (a: AudienceFields): CustomAudience => ({
  id: a.id, name: a.name, createdBy: a.created_by, createdAt: a.created_at, sharedWith: a.shared_with,
  definition: a.definition, createdByGroup: a.created_by_group,
});

/** Every difference from the rule-based definitions (RuleBasedAudienceBuilder) and the
 * shares and deletions (MediaDcr.share_audiences, delete_audiences) of media.json. */
export function mediaAudienceKnownAnswers(vectors: MediaAudienceVectors): string[] {
  const bad: string[] = [];
  for (const v of vectors.rule_based_definitions) {
    let got: string | null;
    try {
      got = compactJson(ruleBasedDefinition(v.input));
    } catch {
      got = null; // refused, as the SDK's builder refuses
    }
    const want = v.definition === null ? null : compactJson(v.definition);
    if (got !== want) bad.push(`rule_based_definitions[${v.case}]: got ${got ?? "a refusal"}, want ${want ?? "a refusal"}`);
  }
  for (const v of vectors.audience_changes) {
    const table = v.audiences.map(audienceOf);
    let got: string;
    try {
      const after = v.action === "share"
        ? afterSharing(table, v.ids, v.participants ?? [], v.group)
        : afterDeleting(table, v.ids, v.with_dependents ?? false, v.group);
      got = JSON.stringify(after.map(customAudienceRow));
    } catch (error) {
      got = error instanceof AudienceChangeError ? JSON.stringify({ code: error.code, audience: error.audience }) : `threw ${String(error)}`;
    }
    const want = v.refused ? JSON.stringify(v.refused) : JSON.stringify((v.written ?? []).map((a) => customAudienceRow(audienceOf(a))));
    if (got !== want) bad.push(`audience_changes[${v.case}]: got ${got}, want ${want}`);
  }
  return bad;
}

export interface MediaMemberVectors {
  config: MediaConfig;
  published: Definition;
  commits: CommitJson[];
  after: { case: string; groups: Group[] }[];
  roles: { permissions: string[]; owns: string[]; runs: string[] }[];
}

/** Every difference from tests/vectors/web/media-members.json (members.current_groups and
 * member_roles), one line each. */
export function mediaMemberKnownAnswers(vectors: MediaMemberVectors): string[] {
  const bad: string[] = [];
  const same = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  vectors.after.forEach((step, i) => {
    try {
      same(`after ${step.case}`, currentGroups(vectors.config, vectors.published, vectors.commits.slice(0, i + 1)), step.groups);
    } catch (error) {
      bad.push(`after ${step.case}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  // The notes the browser writes (MembershipChange.note) are the SDK's, byte for byte.
  vectors.commits.forEach((commit, i) => {
    const change = changeOf(commit.note);
    if (change && noteOf(change) !== commit.note) bad.push(`note of commit ${i}: got ${noteOf(change)}, want ${commit.note}`);
  });
  for (const role of vectors.roles) {
    same(`roles of ${role.permissions.join(",")}`, memberRoles(vectors.published, role.permissions), { owns: role.owns, runs: role.runs });
  }
  return bad;
}
