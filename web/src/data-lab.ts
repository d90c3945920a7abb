// A DataLab's statistics report and validation status, assembled in the browser from what the
// core released, as sealroom.data_lab.statistics.assemble and DataLab.get_validation_status do.
//
// Invariants: the rows are the `statistics` computation's (metric, id_name, key, value), opened
// here after the core's release was verified; group counts come rounded to 50 and only for
// groups of at least the minimum group size, and the shares here are of those released counts
// (post-processing, as the SDK's). Nothing here is a data value: the keys are segment names and
// age or gender values that the publisher's own statistics release to the publisher alone.

import type { DataLabConfig } from "./media";
import { round3 } from "./media";

/** The DataLab's datasets (their table nodes), in the SDK's order. */
export function dataLabTables(config: DataLabConfig): string[] {
  return [
    "matching",
    ...(config.requireSegments ? ["segments"] : []),
    ...(config.requireDemographics ? ["demographics"] : []),
    ...(config.requireEmbeddings ? ["embeddings"] : []),
  ];
}

export interface Share {
  absolute: number;
  relative: number;
}

export interface DatasetTotals {
  node: string;
  totalRows: number;
  validRows: number;
  invalidRows: number;
  invalidByReason: Record<string, number>;
}

export interface IdentifierOverview {
  name: string;
  idType: string;
  isMatchingId: boolean;
  isActivationId: boolean;
  distinctIds: number;
  avgUsersPerId: number;
  maxUsersPerId: number;
  avgIdsPerUser: number;
}

export interface LabStatistics {
  distinctUsers: number;
  datasets: DatasetTotals[];
  identifiers: IdentifierOverview[];
  /** Per matching id, per activation id: the activation ids reachable through it. */
  reachable: { matchingId: string; activationId: string; count: number }[];
  segments: {
    usersWithSegments: number;
    distinctSegments: number;
    /** Users per segment: all users, and per matching id the users who hold one. */
    rows: { segment: string; all: Share; byMatchingId: Record<string, Share> }[];
  } | null;
  demographics: {
    usersWithDemographics: number;
    rows: { age: string; gender: string; users: Share }[];
  } | null;
  usersWithEmbeddings: number | null;
}

export type StatisticsRow = [metric: string, idName: string, key: string, value: number];

/** The statistics computation's CSV rows as numbers (its value column is a DOUBLE). */
export function statisticsRows(rows: string[][]): StatisticsRow[] {
  return rows.map(([metric = "", idName = "", key = "", value = ""]) => {
    const number = Number(value);
    if (value === "" || !Number.isFinite(number)) throw new Error(`the statistic ${metric} is not a number`);
    return [metric, idName, key, number];
  });
}

function share(absolute: number, total: number): Share {
  return { absolute, relative: total ? round3(absolute / total) : 0 };
}

/** The report from the computation's rows and each dataset's validation report ({node: the
 * core's answer}, for the row totals and the invalid rows by reason). */
export function assembleStatistics(
  config: DataLabConfig,
  rows: StatisticsRow[],
  reports: Record<string, Record<string, any>>,
): LabStatistics {
  const single = new Map<string, number>();
  const groups = new Map<string, Map<string, number>>();
  const at = (...parts: string[]): string => JSON.stringify(parts);
  for (const [metric, idName, key, value] of rows) {
    if (metric === "segment_users" || metric === "segments_per_user" || metric === "demographics") {
      if (!groups.has(at(metric, idName))) groups.set(at(metric, idName), new Map());
      groups.get(at(metric, idName))!.set(key, Math.round(value));
    } else {
      single.set(at(metric, idName, key), value);
    }
  }
  const get = (metric: string, idName = "", key = ""): number => Math.round(single.get(at(metric, idName, key)) ?? 0);
  const user = config.identifiersConfig[0]?.idName ?? "";
  const ids = config.identifiersConfig.slice(1);
  const matching = ids.filter((c) => c.isMatchingId).map((c) => c.idName);
  const datasets = dataLabTables(config).map((node): DatasetTotals => {
    const body = (reports[node]?.["report"] ?? {}) as Record<string, any>;
    const total = Number(body["numRowsTotal"] ?? 0);
    const valid = get("valid_rows", node);
    return { node, totalRows: total, validRows: valid, invalidRows: total - valid, invalidByReason: { ...(body["numInvalidRowsByErrorCode"] ?? {}) } };
  });
  const identifiers = config.identifiersConfig.map((c): IdentifierOverview => {
    const isUser = c.idName === user;
    return {
      name: c.idName,
      idType: c.idType,
      isMatchingId: c.isMatchingId,
      isActivationId: c.isActivationId,
      distinctIds: isUser ? get("distinct_user_ids", "matching") : get("distinct_ids", c.idName),
      avgUsersPerId: isUser ? 1 : round3(single.get(at("avg_userids_per_id", c.idName, "")) ?? 0),
      maxUsersPerId: isUser ? 1 : get("max_userids_per_id", c.idName),
      avgIdsPerUser: isUser ? 1 : round3(single.get(at("avg_ids_per_user", c.idName, "")) ?? 0),
    };
  });
  const reachable = matching.flatMap((m) => config.identifiersConfig.filter((a) => a.isActivationId)
    .map((a) => ({ matchingId: m, activationId: a.idName, count: get("reachable_activation_ids", m, a.idName) })));
  const stats: LabStatistics = {
    distinctUsers: get("distinct_user_ids", "matching"),
    datasets,
    identifiers,
    reachable,
    segments: null,
    demographics: null,
    usersWithEmbeddings: config.requireEmbeddings ? get("users_with_embeddings") : null,
  };
  if (config.requireSegments) {
    const everyone = get("users_with_segments");
    const all = groups.get(at("segment_users", "")) ?? new Map<string, number>();
    stats.segments = {
      usersWithSegments: everyone,
      distinctSegments: get("distinct_segments", "segments"),
      rows: [...all.keys()].sort().map((segment) => ({
        segment,
        all: share(all.get(segment)!, everyone),
        byMatchingId: Object.fromEntries(matching.map((m) => {
          const mine = groups.get(at("segment_users", m));
          return [m, share(mine?.get(segment) ?? 0, get("users_with_segments", m))];
        })),
      })),
    };
  }
  if (config.requireDemographics) {
    const everyone = get("users_with_demographics");
    const counts = groups.get(at("demographics", "")) ?? new Map<string, number>();
    stats.demographics = {
      usersWithDemographics: everyone,
      rows: [...counts.keys()].sort().map((key) => {
        const [age = "", gender = ""] = key.split("||");
        return { age, gender, users: share(counts.get(key)!, everyone) };
      }),
    };
  }
  return stats;
}

export interface ValidationStatus {
  status: "SUCCESS" | "FAILED";
  datasets: { node: string; validation: string | null; validRows: number | null }[];
}

/** DataLab.get_validation_status: SUCCESS when every dataset passed the core's validation and
 * the identifiers and segments kept rows. `validRows` from the `validation_status` computation
 * ((dataset, valid_rows) rows; null for a dataset not provisioned), `outcomes` from the core's
 * validation reports. */
export function validationStatus(
  config: DataLabConfig,
  validRows: Map<string, number>,
  outcomes: Map<string, string | null>,
): ValidationStatus {
  let ok = true;
  const datasets = dataLabTables(config).map((node) => {
    const validation = outcomes.get(node) ?? null;
    const rows = validRows.get(node) ?? null;
    const mustHaveRows = node === "matching" || node === "segments";
    ok &&= validation === "PASSED" && (!mustHaveRows || (rows ?? 0) > 0);
    return { node, validation, validRows: rows };
  });
  return { status: ok ? "SUCCESS" : "FAILED", datasets };
}
