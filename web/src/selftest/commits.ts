// Known-answer checks of how the browser applies a commit and derives its approver groups
// (requests.ts: withCommit, approverGroups) against the core's rules (model/commits.py):
// tests/vectors/web/commits.json, which tests/unit/test_commit_vectors.py checks Python against.
import type { Definition } from "../render";
import { approverGroups, withCommit, type CommitJson } from "../requests";

export interface CommitVectors {
  definition: Definition;
  cases: {
    case: string;
    commit: CommitJson;
    participants: { email: string; analyst_of: string[]; data_owner_of: string[] }[];
    identities: { email: string }[];
    approver_groups: { node: string; approvers: string[] }[];
  }[];
}

/** Every difference from the vectors, one line each; none when the browser applies every
 * commit and names every approver as the core does. */
export function commitKnownAnswers(vectors: CommitVectors): string[] {
  const bad: string[] = [];
  const same = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  for (const v of vectors.cases) {
    try {
      const applied = withCommit(vectors.definition, v.commit);
      same(`${v.case} participants`, applied.participants.map((p) => ({ email: p.email, analyst_of: p.analyst_of, data_owner_of: p.data_owner_of })),
        v.participants.map((p) => ({ email: p.email, analyst_of: p.analyst_of, data_owner_of: p.data_owner_of })));
      same(`${v.case} identities`, (applied.identities as { email: string }[]).map((i) => i.email), v.identities.map((i) => i.email));
      same(`${v.case} approver groups`, approverGroups(applied, v.commit), v.approver_groups);
    } catch (error) {
      bad.push(`${v.case}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return bad;
}
