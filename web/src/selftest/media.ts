// Known-answer checks of the media room rows the browser writes (media.ts) against the SDK's:
// tests/vectors/web/media.json, the vectors CustomAudience.to_row is checked against in
// tests/unit/test_media_vectors.py.
import { customAudienceOf, customAudienceRow, type CustomAudience, type Group, type MediaConfig } from "../media";
import { currentGroups, memberRoles } from "../media-members";
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
  for (const role of vectors.roles) {
    same(`roles of ${role.permissions.join(",")}`, memberRoles(vectors.published, role.permissions), { owns: role.owns, runs: role.runs });
  }
  return bad;
}
