// Media clean rooms and DataLabs as the browser reads them: the configuration written in a
// verified room's description (src/sealroom/media/config.py, src/sealroom/data_lab/layout.py),
// the words for it, how the released rows become the results the SDK shows
// (sealroom.media.results), and the rows of the `custom_audiences` table (CustomAudience.to_row).
//
// Invariants:
// * A configuration is read only from a definition this page verified (the room id is its
//   hash), so it is what every participant agreed to; a description that does not parse as the
//   marker's JSON is an error, never guessed at.
// * Everything computed here is post-processing of what the core released (rounded or noised
//   counts): ratios of released values reveal nothing the values do not. Ratios round as Python's
//   round(x, 3) does (to the nearest, ties to even), so the page shows the SDK's figures.
// * Text the SDK writes (an audience's row, the `audience` parameter) is written here as the SDK
//   writes it (json.dumps with its separators), so the two can work on the same room; the rows
//   are checked against the SDK's in tests/vectors/web/media.json (selftest/media.ts).
// * A rule-based definition, a share and a deletion are what the SDK's RuleBasedAudienceBuilder,
//   MediaDcr.share_audiences and delete_audiences make of the same input (refusals included),
//   checked against them in the same file; the privacy budget spent is summed only from an
//   audit log verified in this browser, as the core sums it.

import type { Definition } from "./render";
import { sameEmail } from "./requests";

export const MEDIA_MARKER = "sealroom.media v1 ";
export const DATA_LAB_MARKER = "sealroom.data_lab v1 ";

/** What kind of room a verified definition describes. */
export function roomKind(definition: Definition): "media" | "data-lab" | "room" {
  const description = definition.description ?? "";
  if (description.startsWith(MEDIA_MARKER)) return "media";
  if (description.startsWith(DATA_LAB_MARKER)) return "data-lab";
  return "room";
}

// -- configuration ------------------------------------------------------------------------------
export interface Identifier {
  idName: string;
  idType: string;
  isMatchingId: boolean;
  isActivationId: boolean;
}

export interface Group {
  id: string;
  role: string;
  emails: string[];
  permissions: string[];
  /** Some people's own permissions (Participant.member_permissions), fewer than the group's. */
  memberPermissions?: Record<string, string[]>;
}

export interface MediaPrivacy {
  mode: "ROUNDING" | "DIFFERENTIAL_PRIVACY";
  minimumAudienceSize: number;
  epsilonBudget: number | null;
  epsilonPerRun: number | null;
}

export interface MediaConfig {
  name: string;
  collaborationTypes: string[];
  hideAbsoluteValuesFromInsights: boolean;
  matchingIdType: string;
  participantGroups: Group[];
  showMatchRate: boolean;
  baseAudience: {
    identifiersConfig: Identifier[];
    requireSegments: boolean;
    requireDemographics: boolean;
    numEmbeddings: number;
  };
  privacy: MediaPrivacy;
  minimumGroupSize: number;
}

export interface DataLabConfig {
  name: string;
  requireDemographics: boolean;
  requireEmbeddings: boolean;
  numEmbeddings: number;
  requireSegments: boolean;
  identifiersConfig: Identifier[];
  collaborationTypes: string[];
  dropInvalidRows: boolean;
  minimumGroupSize: number;
}

class ConfigError extends Error {
  constructor(what: string, problem: string) {
    super(`this room's ${what} configuration cannot be read: ${problem}`);
    this.name = "ConfigError";
  }
}

type Check = (value: unknown, path: string) => void;
const isString: Check = (v, p) => { if (typeof v !== "string") throw new Error(`${p} is not text`); };
const isBool: Check = (v, p) => { if (typeof v !== "boolean") throw new Error(`${p} is not true or false`); };
const isCount: Check = (v, p) => { if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Error(`${p} is not a count`); };
const isNumberOrNull: Check = (v, p) => { if (v !== null && typeof v !== "number") throw new Error(`${p} is not a number`); };
const listOf = (check: Check): Check => (v, p) => {
  if (!Array.isArray(v)) throw new Error(`${p} is not a list`);
  v.forEach((item, i) => check(item, `${p}[${i}]`));
};
const shape = (fields: Record<string, Check>): Check => (v, p) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${p} is not an object`);
  for (const [name, check] of Object.entries(fields)) check((v as Record<string, unknown>)[name], `${p}.${name}`);
};

const IDENTIFIER = shape({ idName: isString, idType: isString, isMatchingId: isBool, isActivationId: isBool });
const MEDIA_SHAPE = shape({
  name: isString,
  collaborationTypes: listOf(isString),
  hideAbsoluteValuesFromInsights: isBool,
  matchingIdType: isString,
  participantGroups: listOf(shape({ id: isString, role: isString, emails: listOf(isString), permissions: listOf(isString) })),
  showMatchRate: isBool,
  baseAudience: shape({
    identifiersConfig: listOf(IDENTIFIER), requireSegments: isBool, requireDemographics: isBool, numEmbeddings: isCount,
  }),
  privacy: shape({ mode: isString, minimumAudienceSize: isCount, epsilonBudget: isNumberOrNull, epsilonPerRun: isNumberOrNull }),
  minimumGroupSize: isCount,
});
const DATA_LAB_SHAPE = shape({
  name: isString,
  requireDemographics: isBool,
  requireEmbeddings: isBool,
  numEmbeddings: isCount,
  requireSegments: isBool,
  identifiersConfig: listOf(IDENTIFIER),
  collaborationTypes: listOf(isString),
  dropInvalidRows: isBool,
  minimumGroupSize: isCount,
});

function parseDescription(definition: Definition, marker: string, what: string, check: Check): unknown {
  const description = definition.description ?? "";
  if (!description.startsWith(marker)) throw new ConfigError(what, `it is not a ${what} room`);
  let value: unknown;
  try {
    value = JSON.parse(description.slice(marker.length));
  } catch {
    throw new ConfigError(what, "its description is not JSON after the marker");
  }
  try {
    check(value, "configuration");
  } catch (error) {
    throw new ConfigError(what, error instanceof Error ? error.message : String(error));
  }
  return value;
}

export function mediaConfigOf(definition: Definition): MediaConfig {
  return parseDescription(definition, MEDIA_MARKER, "media", MEDIA_SHAPE) as MediaConfig;
}

export function dataLabConfigOf(definition: Definition): DataLabConfig {
  return parseDescription(definition, DATA_LAB_MARKER, "DataLab", DATA_LAB_SHAPE) as DataLabConfig;
}


export function groupOf(config: MediaConfig, email: string): Group | null {
  return config.participantGroups.find((group) => group.emails.some((e) => sameEmail(e, email))) ?? null;
}

/** The activation identifiers' names (the ids an exported audience holds). */
export function activationColumns(config: MediaConfig): string[] {
  return config.baseAudience.identifiersConfig.filter((c) => c.isActivationId).map((c) => c.idName);
}

// -- words -------------------------------------------------------------------------------------
export const PERMISSION_WORDS: Record<string, string> = {
  PROVIDE_BASE_AUDIENCE: "provide the base audience",
  PROVIDE_SEED_AUDIENCE: "provide seed audiences",
  VIEW_OVERLAP: "see the overlap",
  VIEW_INSIGHTS: "see insights",
  CREATE_CUSTOM_AUDIENCE: "create audiences and size them",
  EXPORT_AUDIENCE: "size audiences and export their user lists",
  MODEL_QUALITY: "see the quality of lookalike models",
  MANAGE_USERS: "manage the group's people",
};

export const COLLABORATION_WORDS: Record<string, string> = {
  OVERLAP: "Overlap",
  INSIGHTS: "Insights",
  REMARKETING: "Remarketing audiences",
  EXCLUSION_TARGETING: "Exclusion-targeting audiences",
  LOOKALIKE: "Lookalike audiences",
  RULE_BASED: "Rule-based audiences",
};

export const AGGREGATION_WORDS: Record<string, string> = {
  segment: "Segment",
  age: "Age",
  gender: "Gender",
  age_gender: "Age and gender",
};

/** A permission in words (an unknown one as it is written). */
export function permissionWords(permission: string): string {
  return PERMISSION_WORDS[permission] ?? permission;
}

export function can(group: Group | null, ...permissions: string[]): boolean {
  return group !== null && permissions.some((p) => group.permissions.includes(p));
}

// -- rounding and numbers ------------------------------------------------------------------------
/** Python's round(x, 3): the nearest multiple of 0.001 to the double x, ties to even. A double
 * is exactly halfway between two such multiples only when it is an odd multiple of 1/2000 that
 * is also a multiple of 1/16 (2000 = 2^4 · 125); every other x rounds as toFixed does. */
export function round3(x: number): number {
  const halves = x * 2000;
  if (Number.isInteger(x * 16) && Number.isInteger(halves) && halves % 2 !== 0) {
    const lower = (halves - 1) / 2;
    return (lower % 2 === 0 ? lower : lower + 1) / 1000;
  }
  return Number(x.toFixed(3));
}

/** `numerator / denominator` as the SDK's _ratio: null without a numerator or denominator. */
export function ratio(numerator: number | null, denominator: number | null): number | null {
  if (numerator === null || !denominator) return null;
  return round3(numerator / denominator);
}

/** A released count from a CSV cell: null when the core released NULL (too small). */
export function countOf(cell: string | undefined): number | null {
  if (cell === undefined || cell === "") return null;
  const value = Number(cell);
  if (!Number.isFinite(value)) throw new Error("a released count is not a number");
  return value;
}

const NUMBER_FORMAT = new Intl.NumberFormat("en-US");

export function formatCount(value: number | null, tooSmall = "too small"): string {
  return value === null ? tooSmall : NUMBER_FORMAT.format(value);
}

export function formatShare(value: number | null): string {
  return value === null ? "–" : `${(value * 100).toFixed(1)} %`;
}

// -- results -------------------------------------------------------------------------------------
export interface OverlapRow {
  audienceType: string;
  advertiserSize: number | null;
  overlapSize: number | null;
  matchRate: number | null;
  activationIds: Record<string, number | null>;
}

/** `overlap_statistics`' rows (audience_type, advertiser_size, overlap_size, activation_id,
 * activation_ids) as parse_overlap assembles them, one entry per audience type. */
export function assembleOverlap(rows: string[][], showMatchRate: boolean): OverlapRow[] {
  const byType = new Map<string, OverlapRow>();
  for (const [audienceType = "", advertiser, overlap, activationId, activationIds] of rows) {
    let entry = byType.get(audienceType);
    if (!entry) {
      const advertiserSize = countOf(advertiser);
      const overlapSize = countOf(overlap);
      entry = {
        audienceType,
        advertiserSize,
        overlapSize,
        matchRate: showMatchRate ? ratio(overlapSize, advertiserSize) : null,
        activationIds: {},
      };
      byType.set(audienceType, entry);
    }
    if (activationId) entry.activationIds[activationId] = countOf(activationIds);
  }
  return [...byType.values()];
}

export interface InsightRow {
  key: string;
  overlapSize: number | null;
  baseSize: number | null;
  overlapShare: number;
  baseShare: number;
  netPropensity: number;
  affinity: number | null;
}

export interface Insights {
  audienceType: string;
  aggregations: { aggregation: string; rows: InsightRow[] }[];
}

/** `insights`' rows (audience_type, aggregation, key, overlap_value, base_value) as
 * parse_insights assembles them: per audience type and aggregation, each key's sizes, its share
 * of the overlap and of the base, and the affinity (overlap share / base share). */
export function assembleInsights(rows: string[][], hideAbsoluteValues: boolean): Insights[] {
  const totals = new Map<string, [number | null, number | null]>();
  const groups = new Map<string, { audienceType: string; aggregation: string; items: [string, number, number][] }>();
  const at = (type: string, aggregation: string): string => JSON.stringify([type, aggregation]);
  for (const [audienceType = "", aggregation = "", key = "", overlapValue, baseValue] of rows) {
    if (aggregation === "total") {
      totals.set(at(audienceType, key), [countOf(overlapValue), countOf(baseValue)]);
    } else {
      const overlap = countOf(overlapValue);
      const base = countOf(baseValue);
      // A share of a total that rounds to 0 (hidden absolute values): nothing to show.
      if (overlap === null || base === null) continue;
      const id = at(audienceType, aggregation);
      if (!groups.has(id)) groups.set(id, { audienceType, aggregation, items: [] });
      groups.get(id)!.items.push([key, overlap, base]);
    }
  }
  const byType = new Map<string, Insights>();
  // Sorted by (audience type, aggregation), as the SDK's sorted(groups.items()).
  const ordered = [...groups.values()].sort((a, b) =>
    a.audienceType === b.audienceType ? compare(a.aggregation, b.aggregation) : compare(a.audienceType, b.audienceType));
  for (const { audienceType, aggregation, items } of ordered) {
    const [overlapTotal, baseTotal] = totals.get(at(audienceType, aggregation)) ?? [null, null];
    const table = items.map(([key, overlapValue, baseValue]): InsightRow => {
      const overlapShare = hideAbsoluteValues ? overlapValue : ratio(overlapValue, overlapTotal) ?? 0;
      const baseShare = hideAbsoluteValues ? baseValue : ratio(baseValue, baseTotal) ?? 0;
      return {
        key,
        overlapSize: hideAbsoluteValues ? null : Math.trunc(overlapValue),
        baseSize: hideAbsoluteValues ? null : Math.trunc(baseValue),
        overlapShare,
        baseShare,
        netPropensity: round3(overlapShare - baseShare),
        affinity: ratio(overlapShare, baseShare),
      };
    });
    if (!byType.has(audienceType)) byType.set(audienceType, { audienceType, aggregations: [] });
    byType.get(audienceType)!.aggregations.push({ aggregation, rows: table });
  }
  return [...byType.values()];
}

/** Python's string order: by code point. JavaScript's `<` compares UTF-16 code units, which
 * puts a character beyond U+FFFF (a surrogate pair, from U+D800) before U+E000–U+FFFF. */
function compare(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++; // the same pair in both: skip its second unit
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

// -- audiences -----------------------------------------------------------------------------------
export type AudienceRef =
  | { kind: "BASE" }
  | { kind: "SEED"; audienceType: string }
  | { kind: "CUSTOM"; id: string };

export interface SeedAudience {
  audienceType: string;
  size: number | null;
}

export interface CustomAudience {
  id: string;
  name: string;
  createdBy: string;
  createdAt: string;
  sharedWith: string[];
  definition: Record<string, unknown>;
  createdByGroup: string;
}

/** The `custom_audiences` table's columns, in order (sealroom.media.layout). */
export const CUSTOM_COLUMNS = ["id", "name", "created_by", "created_at", "shared_with", "definition", "created_by_group"];

/** A row of `custom_audience_list` (the table's columns) as a CustomAudience.from_row. */
export function customAudienceOf(row: string[]): CustomAudience {
  const [id = "", name = "", createdBy = "", createdAt = "", sharedWith = "", definition = "", group = ""] = row;
  const shared = JSON.parse(sharedWith || "[]") as unknown;
  const parsed = JSON.parse(definition) as unknown;
  if (!Array.isArray(shared) || typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`audience ${id}: its definition is not readable`);
  }
  return { id, name, createdBy, createdAt, sharedWith: shared.map(String), definition: parsed as Record<string, unknown>, createdByGroup: group };
}

/** The audience's row as CustomAudience.to_row writes it. */
export function customAudienceRow(audience: CustomAudience): string[] {
  return [
    audience.id,
    audience.name,
    audience.createdBy,
    audience.createdAt,
    pythonJson(audience.sharedWith, false),
    compactJson(audience.definition),
    audience.createdByGroup,
  ];
}

/** The custom audiences of `group`: created by it, or shared with it (by id or role), as
 * MediaDcr.get_audiences lists them. Every participant may read every definition: this is what
 * the audiences are meant for, not a secret. */
export function audiencesFor(group: Group | null, audiences: CustomAudience[]): CustomAudience[] {
  if (!group) return [];
  return audiences.filter((a) => a.createdByGroup === group.id || a.sharedWith.includes(group.id) || a.sharedWith.includes(group.role));
}

/** The ids of the custom audiences a definition refers to (CustomAudience.depends_on). */
export function dependsOn(definition: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === "object" && value !== null) {
      const record = value as Record<string, unknown>;
      if (record["kind"] === "CUSTOM" && "id" in record) found.push(String(record["id"]));
      Object.values(record).forEach(walk);
    }
  };
  walk(definition);
  return found;
}

/** Whether the room enables audiences of this definition kind: each kind (REMARKETING,
 * EXCLUSION_TARGETING, LOOKALIKE, RULE_BASED) is enabled by the collaboration type of the same
 * name (media_dcr.DEFINITION_KINDS). */
export function kindEnabled(config: MediaConfig, kind: string): boolean {
  return config.collaborationTypes.includes(kind);
}

/** A source reference in words, custom audiences by name. */
export function referenceWords(ref: unknown, names: Map<string, string>): string {
  const record = (typeof ref === "object" && ref !== null ? ref : {}) as Record<string, unknown>;
  if (record["kind"] === "BASE") return "all base users";
  if (record["kind"] === "SEED") return `seed audience “${String(record["audienceType"])}”`;
  if (record["kind"] === "CUSTOM") return `audience “${names.get(String(record["id"])) ?? String(record["id"])}”`;
  return "an unknown source";
}

/** A filter operator in words, after the attribute ("segment is any of …"). */
export const FILTER_WORDS: Record<string, string> = {
  CONTAINS_ANY_OF: "is any of",
  CONTAINS_NONE_OF: "is none of",
  CONTAINS_ALL_OF: "includes all of",
  EMPTY: "is unknown",
  NOT_EMPTY: "is known",
};

/** A combination step in words, before the other audience. */
export const COMBINE_WORDS: Record<string, string> = {
  INTERSECT: "only those also in",
  UNION: "plus",
  DIFF: "minus",
};

/** A definition's `filters` in words: " whose segment is any of sports and age is known". */
function filtersWords(value: unknown): string {
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const filters = (Array.isArray(record["filters"]) ? record["filters"] : []) as Record<string, unknown>[];
  if (!filters.length) return "";
  const join = record["booleanOp"] === "OR" ? " or " : " and ";
  return " whose " + filters.map((f) => {
    const values = Array.isArray(f["values"]) ? ` ${(f["values"] as unknown[]).map(String).join(", ")}` : "";
    return `${String(f["attribute"])} ${FILTER_WORDS[String(f["operator"])] ?? String(f["operator"])}${values}`;
  }).join(join);
}

/** What a definition selects, in words. */
export function definitionWords(definition: Record<string, unknown>, names: Map<string, string>): string {
  const seedType = (definition["seedAudienceRef"] as Record<string, unknown> | undefined)?.["audienceType"];
  switch (definition["kind"]) {
    case "REMARKETING":
      return `Remarketing: the base users in seed audience “${String(seedType)}”`;
    case "EXCLUSION_TARGETING":
      return `Exclusion targeting: the base users not in seed audience “${String(seedType)}”`;
    case "LOOKALIKE":
      return `Lookalike: the ${String(definition["reach"])} % of the base most like ${referenceWords(definition["sourceRef"], names)}` +
        (definition["excludeSeedAudience"] ? ", without it" : "");
    case "RULE_BASED": {
      const steps = (Array.isArray(definition["combine"]) ? definition["combine"] : []) as Record<string, unknown>[];
      return `Rule-based: ${referenceWords(definition["sourceRef"], names)}${filtersWords(definition["filters"])}` +
        steps.map((step) => `; ${COMBINE_WORDS[String(step["operator"])] ?? String(step["operator"])} ` +
          `${referenceWords(step["sourceRef"], names)}${filtersWords(step["filters"])}`).join("");
    }
    default:
      return `An audience of kind ${String(definition["kind"])}`;
  }
}

// -- rule-based audiences -----------------------------------------------------------------------
/** The attributes a rule may filter on (audiences.ATTRIBUTES). */
export const RULE_ATTRIBUTES = ["segment", "age", "gender"];
/** FilterOperator's values; the last two take no values. */
export const FILTER_OPERATORS = ["CONTAINS_ANY_OF", "CONTAINS_NONE_OF", "CONTAINS_ALL_OF", "EMPTY", "NOT_EMPTY"];
/** CombineOperator's values. */
export const COMBINE_OPERATORS = ["INTERSECT", "UNION", "DIFF"];

export interface RuleFilter {
  attribute: string;
  operator: string;
  values: string[];
}

/** AudienceFilters: MatchOperator.MATCH_ALL is "AND", MATCH_ANY "OR". */
export interface RuleFilters {
  booleanOp: "AND" | "OR";
  filters: RuleFilter[];
}

/** An AudienceCombinator: `operator` with `source` (filtered by `filters`, if any). */
export interface RuleStep {
  operator: string;
  source: AudienceRef;
  filters: RuleFilters | null;
}

/** What RuleBasedAudienceBuilder is given: a source, with_filters (null: not called) and
 * with_combinator (empty: not called). */
export interface RuleInput {
  source: AudienceRef;
  filters: RuleFilters | null;
  combine: RuleStep[];
}

/** Filter.to_dict: the values (as text) only for operators that take them. */
function filterJson(filter: RuleFilter): Record<string, unknown> {
  if (!RULE_ATTRIBUTES.includes(filter.attribute)) {
    throw new Error(`filter attribute '${filter.attribute}': use one of ${RULE_ATTRIBUTES.join(", ")}`);
  }
  if (!FILTER_OPERATORS.includes(filter.operator)) throw new Error(`filter operator '${filter.operator}': use one of ${FILTER_OPERATORS.join(", ")}`);
  const needsValues = filter.operator !== "EMPTY" && filter.operator !== "NOT_EMPTY";
  if (needsValues && filter.values.length === 0) throw new Error(`filter ${filter.operator} on ${filter.attribute} needs values`);
  const out: Record<string, unknown> = { attribute: filter.attribute, operator: filter.operator };
  if (needsValues) out["values"] = filter.values.map(String);
  return out;
}

/** AudienceFilters.to_dict. */
function filtersJson(filters: RuleFilters): Record<string, unknown> {
  if (filters.booleanOp !== "AND" && filters.booleanOp !== "OR") throw new Error("filters are joined by AND or OR");
  return { booleanOp: filters.booleanOp, filters: filters.filters.map(filterJson) };
}

/** The definition RuleBasedAudienceBuilder(...).build() makes of the same input (checked
 * against the SDK's in tests/vectors/web/media.json, rule_based_definitions). */
export function ruleBasedDefinition(input: RuleInput): Record<string, unknown> {
  const definition: Record<string, unknown> = { kind: "RULE_BASED", sourceRef: { ...input.source } };
  if (input.filters !== null) definition["filters"] = filtersJson(input.filters);
  if (input.combine.length) {
    definition["combine"] = input.combine.map((step) => {
      if (!COMBINE_OPERATORS.includes(step.operator)) throw new Error(`a combination is ${COMBINE_OPERATORS.join(", ")}`);
      const out: Record<string, unknown> = { operator: step.operator, sourceRef: { ...step.source } };
      if (step.filters !== null) out["filters"] = filtersJson(step.filters);
      return out;
    });
  }
  return definition;
}

/** `data_attributes`' rows (attribute, value) as parse_data_attributes reads them: each
 * attribute's values, in the order released. */
export function attributesOf(rows: string[][]): Map<string, string[]> {
  const attributes = new Map<string, string[]>();
  for (const [attribute = "", value = ""] of rows) {
    if (!attributes.has(attribute)) attributes.set(attribute, []);
    attributes.get(attribute)!.push(value);
  }
  return attributes;
}

// -- sharing and deleting audiences --------------------------------------------------------------
/** Why MediaDcr.share_audiences or delete_audiences refuses, with the SDK's error code. */
export class AudienceChangeError extends Error {
  constructor(readonly code: "permission_denied" | "has_dependents", readonly audience: string, message: string) {
    super(message);
    this.name = "AudienceChangeError";
  }
}

/** The custom audiences after MediaDcr.share_audiences(ids, participants) by `groupId`: each
 * audience of `ids` (its group's own, or refused) shared with `participants` too (ids or roles,
 * each once, in order). Checked against the SDK in tests/vectors/web/media.json. */
export function afterSharing(current: CustomAudience[], ids: string[], participants: string[], groupId: string): CustomAudience[] {
  return current.map((audience) => {
    if (!ids.includes(audience.id)) return audience;
    if (audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
    return { ...audience, sharedWith: [...new Set([...audience.sharedWith, ...participants])] };
  });
}

/** The custom audiences after MediaDcr.delete_audiences(ids, delete_dependent_audiences) by
 * `groupId`: only its own are deleted; one that depends on a deleted audience is kept (and the
 * deletion refused) unless `withDependents`, and even then another group's is never deleted as
 * a side effect. The same loop as the SDK's, so the same audience is named when refused. */
export function afterDeleting(current: CustomAudience[], ids: string[], withDependents: boolean, groupId: string): CustomAudience[] {
  const doomed = new Set(ids);
  for (const audience of current) {
    if (doomed.has(audience.id) && audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (const audience of current) {
      if (doomed.has(audience.id) || !dependsOn(audience.definition).some((id) => doomed.has(id))) continue;
      if (!withDependents) {
        throw new AudienceChangeError("has_dependents", audience.name,
          `audience “${audience.name}” depends on one you delete: delete it too (with the audiences that depend on it), or keep both`);
      }
      if (audience.createdByGroup !== groupId) {
        throw new AudienceChangeError("has_dependents", audience.name,
          `audience “${audience.name}” of another group depends on one you delete: they must delete it first`);
      }
      doomed.add(audience.id);
      changed = true;
    }
  }
  return current.filter((audience) => !doomed.has(audience.id));
}

/** The audiences of `current` that depend on `id`, directly or through others. */
export function dependentsOf(current: CustomAudience[], id: string): CustomAudience[] {
  const found = new Set([id]);
  let changed = true;
  while (changed) {
    changed = false;
    for (const audience of current) {
      if (!found.has(audience.id) && dependsOn(audience.definition).some((d) => found.has(d))) {
        found.add(audience.id);
        changed = true;
      }
    }
  }
  return current.filter((audience) => audience.id !== id && found.has(audience.id));
}

// -- the privacy budget --------------------------------------------------------------------------
export interface BudgetSpent {
  epsilon: number;
  delta: number;
  /** How many runs were charged. */
  charges: number;
}

const CHARGE_FIELDS = ["job_id", "node", "epsilon", "delta", "spent_epsilon", "spent_delta"];

/** What the room's runs spent, as the core counts it (RoomFacts.fold): the sum, in log order,
 * of the ε and δ of every PRIVACY_BUDGET_CHARGED entry whose details are all there (the core
 * writes them as Python's repr of a float, which Number reads back to the same double, so the
 * sum is the core's to the last bit). `events` must be a verified log (audit.verifyAuditLog). */
export function privacySpent(events: readonly { action: string; details: Readonly<Record<string, unknown>> }[]): BudgetSpent {
  const spent: BudgetSpent = { epsilon: 0, delta: 0, charges: 0 };
  for (const event of events) {
    if (event.action !== "PRIVACY_BUDGET_CHARGED") continue;
    if (!CHARGE_FIELDS.every((field) => typeof event.details[field] === "string")) continue; // kind_of: None
    const epsilon = Number(event.details["epsilon"]);
    const delta = Number(event.details["delta"]);
    if (!Number.isFinite(epsilon) || !Number.isFinite(delta)) throw new Error("a privacy budget charge in the log is not a number");
    spent.epsilon += epsilon;
    spent.delta += delta;
    spent.charges += 1;
  }
  return spent;
}

// -- JSON as the SDK writes it -------------------------------------------------------------------
type Json = null | boolean | number | string | Json[] | { [key: string]: Json } | unknown;

/** Python's json.dumps(value, sort_keys=sortKeys): separators ", " and ": ", non-ASCII escaped. */
export function pythonJson(value: Json, sortKeys = true): string {
  return encodeJson(value, sortKeys, ", ", ": ", true);
}

/** json.dumps(value, sort_keys=True, separators=(",", ":")): an audience's stored definition. */
export function compactJson(value: Json): string {
  return encodeJson(value, true, ",", ":", true);
}

function encodeJson(value: Json, sortKeys: boolean, item: string, key: string, ascii: boolean): string {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    // Python writes an integral float as 1.0, JavaScript as 1: only integers are written here.
    if (!Number.isSafeInteger(value)) throw new Error("only whole numbers are written in an audience");
    return String(value);
  }
  if (typeof value === "string") {
    const text = JSON.stringify(value);
    // Python's ensure_ascii escapes every character outside " " to "~", U+007F (DEL) included;
    // JSON.stringify has escaped the controls below " " already.
    return ascii ? text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => encodeJson(v, sortKeys, item, key, ascii)).join(item)}]`;
  if (typeof value === "object") {
    const record = value as Record<string, Json>;
    const keys = Object.keys(record);
    if (sortKeys) keys.sort(compare);
    return `{${keys.map((k) => `${encodeJson(k, sortKeys, item, key, ascii)}${key}${encodeJson(record[k], sortKeys, item, key, ascii)}`).join(item)}}`;
  }
  throw new Error("not a JSON value");
}

/** The `audience` parameter of the engine's computations for a reference or a definition, as
 * the SDK writes it (json.dumps(ref, sort_keys=True)). */
export function audienceParameter(ref: AudienceRef | Record<string, unknown>): string {
  return pythonJson(ref);
}

/** A fresh audience id (secrets.token_hex(8)). */
export function newAudienceId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Now, as the SDK stamps an audience (created_at_now: ISO 8601, UTC, milliseconds). */
export function createdAtNow(): string {
  // Milliseconds (as the SDK's created_at_now): audiences are listed by creation time, and
  // several are often made within one second.
  return new Date().toISOString();
}

// -- the engine's results ------------------------------------------------------------------------
/** What the audience engine writes instead of a result when it refuses a run. */
export const REFUSAL_FILE = "refusal.json";

export class AudienceRefusedError extends Error {
  constructor(reason: string) {
    super(`the audience engine refused: ${reason}`);
    this.name = "AudienceRefusedError";
  }
}
