// The room builder's state: a room template (docs/room-definition.md) held as objects the form
// edits, and turned back into template JSON after every change.
//
// Invariants:
// * References between nodes (dependencies, data_owner_of, analyst_of) are held as the node
//   objects themselves, not as names, so renaming a node renames every reference to it and two
//   nodes briefly sharing a name while somebody types never swap their references. A name in
//   the template that names no node is kept as written (the server reports it).
// * Fields the form has no control for (rate limits, parameters, DP bounds, explicit
//   permissions, identities, trust roots …) are kept exactly as they came: loading a template
//   and writing it back gives the same room.
// * The form writes the fields it controls and leaves out those at their default, so a room
//   built from scratch reads like a hand-written template; `nodes`, `participants`,
//   `interactive` and `enable_development` are always written (what the room agrees to).
// * Nothing here is trusted: the server's draft endpoint and "Test all computations" decide.
//   `problems` only helps people fix the form as they type.

import { tablesNamed } from "./sql";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const DATA_KINDS = ["table", "raw"] as const;
export const COMPUTE_KINDS = ["sql", "python", "r", "synthetic", "preview"] as const;
export type Kind = (typeof DATA_KINDS)[number] | (typeof COMPUTE_KINDS)[number];

export const KIND_LABELS: Record<Kind, string> = {
  table: "Table", raw: "File", sql: "SQL", python: "Python", r: "R", synthetic: "Synthetic data", preview: "Preview (airlock)",
};

export const FORMAT_TYPES = [
  "STRING", "INTEGER", "FLOAT", "DECIMAL", "BOOLEAN", "DATE", "DATE_ISO8601", "TIMESTAMP", "TIMESTAMP_TZ",
  "EMAIL", "PHONE_NUMBER_E164", "HASH_SHA256_HEX",
] as const;
export const NUMERIC_FORMATS = new Set(["INTEGER", "FLOAT", "DECIMAL"]);
export const MASK_TYPES = [
  "genericString", "genericNumber", "name", "address", "postcode", "phoneNumber", "socialSecurityNumber",
  "email", "date", "timestamp", "iban",
] as const;

/** A name in the template that names no node of the room, kept as written. */
export interface Dangling { dangling: string }
export type Ref = RoomNode | Dangling;

export interface RoomNode {
  uid: number;
  kind: Kind;
  /** Every field but `kind`, the references (dependencies / dependency), as in the template. */
  fields: JsonObject;
  /** sql, python, r: the inputs; synthetic, preview: one (or none yet). */
  deps: Ref[];
  /** SQL only: dependencies are the tables the query names (else chosen by hand). */
  derive: boolean;
}

export interface Person {
  uid: number;
  fields: JsonObject;
  owns: Ref[];
  analyses: Ref[];
  /** The role lists the template wrote even when empty (an export writes every field). */
  listed?: Set<string>;
}

export interface Room {
  fields: JsonObject;
  nodes: RoomNode[];
  people: Person[];
}

let counter = 0;
export function nextUid(): number {
  counter += 1;
  return counter;
}

export function isNode(ref: Ref): ref is RoomNode {
  return !("dangling" in ref);
}

export function refName(ref: Ref): string {
  return isNode(ref) ? nodeName(ref) : ref.dangling;
}

export function nodeName(node: RoomNode): string {
  return typeof node.fields["name"] === "string" ? node.fields["name"] : "";
}

export function isData(node: RoomNode): boolean {
  return node.kind === "table" || node.kind === "raw";
}

function asObject(value: unknown): JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : {};
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

export function emptyRoom(): Room {
  return { fields: { format: "sealroom/room-definition", version: 2, name: "" }, nodes: [], people: [] };
}

/** The room a template's text describes; throws an Error saying why when it is not a template
 * object (the finer checks are the server's). */
export function loadTemplate(text: string): Room {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`the template is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new Error("a template is a JSON object ({...})");
  }
  const fields = { ...(document as JsonObject) };
  const rawNodes = Array.isArray(fields["nodes"]) ? fields["nodes"] : [];
  const rawPeople = Array.isArray(fields["participants"]) ? fields["participants"] : [];
  delete fields["nodes"];
  delete fields["participants"];
  const nodes: RoomNode[] = rawNodes.map((item) => {
    const object = { ...asObject(item) };
    const kind = String(object["kind"] ?? "") as Kind;
    delete object["kind"];
    return { uid: nextUid(), kind, fields: object, deps: [], derive: false };
  });
  const byName = new Map<string, RoomNode>();
  for (const node of nodes) if (!byName.has(nodeName(node))) byName.set(nodeName(node), node);
  const resolve = (name: string): Ref => byName.get(name) ?? { dangling: name };
  for (const node of nodes) {
    if (Array.isArray(node.fields["dependencies"])) {
      node.deps = asStrings(node.fields["dependencies"]).map(resolve);
      delete node.fields["dependencies"];
    } else if (typeof node.fields["dependency"] === "string") {
      node.deps = [resolve(node.fields["dependency"])];
      delete node.fields["dependency"];
    }
    if (node.kind === "sql") {
      // Derive while the declared dependencies are exactly what the query names.
      const named = derivedDependencies(node, nodes).map(refName).sort();
      node.derive = JSON.stringify(named) === JSON.stringify(node.deps.map(refName).sort());
    }
  }
  const people: Person[] = rawPeople.map((item) => {
    const object = { ...asObject(item) };
    const person: Person = {
      uid: nextUid(), fields: object,
      owns: asStrings(object["data_owner_of"]).map(resolve),
      analyses: asStrings(object["analyst_of"]).map(resolve),
      listed: new Set(["data_owner_of", "analyst_of"].filter((key) => key in object)),
    };
    delete object["data_owner_of"];
    delete object["analyst_of"];
    return person;
  });
  return { fields, nodes, people };
}

/** Nodes a SQL query may read: tables and computations that produce a table. */
export function sqlReadable(node: RoomNode): boolean {
  return ["table", "sql", "python", "r", "synthetic"].includes(node.kind);
}

/** The nodes the SQL node's query names (the room's nodes, matched ignoring case as DuckDB
 * does), in the room's order; names matching no node are left out (see `unknownTables`). */
export function derivedDependencies(node: RoomNode, nodes: RoomNode[]): RoomNode[] {
  const named = new Set(tablesNamed(String(node.fields["query"] ?? "")).map((name) => name.toLowerCase()));
  return nodes.filter((other) => other !== node && sqlReadable(other) && named.has(nodeName(other).toLowerCase()));
}

export function unknownTables(node: RoomNode, nodes: RoomNode[]): string[] {
  const known = new Set(nodes.filter((other) => other !== node).map((other) => nodeName(other).toLowerCase()));
  return tablesNamed(String(node.fields["query"] ?? "")).filter((name) => !known.has(name.toLowerCase()));
}

/** What the node's inputs are in the template: derived for a deriving SQL node. */
export function effectiveDeps(node: RoomNode, room: Room): Ref[] {
  return node.kind === "sql" && node.derive ? derivedDependencies(node, room.nodes) : node.deps;
}

// -- writing the template --------------------------------------------------------------------
const TOP_ORDER = ["$schema", "format", "version", "name", "description", "owner", "nodes", "participants",
  "basic_permissions", "privacy", "interactive", "enable_development", "trust_roots", "identities"];
const NODE_ORDER = ["kind", "name", "is_required", "columns", "unique_column_combinations", "drop_invalid_rows",
  "query", "script", "dependencies", "dependency", "additional_files", "epsilon", "model", "minimum_rows_count",
  "dp_epsilon", "dp_delta", "dp_max_rows_per_unit", "dp_bounds", "parameters", "quota_bytes"];
const COLUMN_ORDER = ["name", "format_type", "is_nullable", "hash_with", "in_range", "precision", "scale"];
const PERSON_ORDER = ["email", "data_owner_of", "analyst_of", "permissions"];

function ordered(object: JsonObject, order: string[]): JsonObject {
  const result: JsonObject = {};
  for (const key of order) if (key in object) result[key] = object[key]!;
  for (const [key, value] of Object.entries(object)) if (!(key in result)) result[key] = value;
  return result;
}

/** The room as a template object (see the invariants above). */
export function toTemplate(room: Room): JsonObject {
  const nodeNames = (refs: Ref[]): string[] => {
    const names = refs.map(refName);
    return names.filter((name, index) => names.indexOf(name) === index);
  };
  const nodes = room.nodes.map((node) => {
    const object: JsonObject = { kind: node.kind, ...node.fields };
    if (Array.isArray(object["columns"]) && node.kind === "table") {
      object["columns"] = object["columns"].map((column) => ordered(asObject(column), COLUMN_ORDER));
    }
    if (node.kind === "sql" || node.kind === "python" || node.kind === "r") {
      object["dependencies"] = nodeNames(effectiveDeps(node, room));
    } else if (node.kind === "synthetic" || node.kind === "preview") {
      object["dependency"] = node.deps[0] ? refName(node.deps[0]) : "";
    }
    return ordered(object, NODE_ORDER);
  });
  const participants = room.people.map((person) => {
    const object: JsonObject = { ...person.fields };
    if (person.owns.length || person.listed?.has("data_owner_of")) object["data_owner_of"] = nodeNames(person.owns);
    if (person.analyses.length || person.listed?.has("analyst_of")) object["analyst_of"] = nodeNames(person.analyses);
    return ordered(object, PERSON_ORDER);
  });
  const top: JsonObject = {
    interactive: false, enable_development: false, ...room.fields, nodes, participants,
  };
  return ordered(top, TOP_ORDER);
}

export function templateText(room: Room): string {
  return JSON.stringify(toTemplate(room), null, 2) + "\n";
}

/** Set a field, or remove it when `value` is its default (or null/""): see the invariants. */
export function setField(fields: JsonObject, key: string, value: Json | undefined, fallback: Json | undefined = undefined): void {
  if (value === undefined || value === null || value === "" || value === fallback) delete fields[key];
  else fields[key] = value;
}

// -- references --------------------------------------------------------------------------------
/** Remove a node and every reference to it (dependencies, roles, synthetic column masks). */
export function removeNode(room: Room, node: RoomNode): void {
  room.nodes = room.nodes.filter((other) => other !== node);
  for (const other of room.nodes) other.deps = other.deps.filter((ref) => ref !== node);
  for (const person of room.people) {
    person.owns = person.owns.filter((ref) => ref !== node);
    person.analyses = person.analyses.filter((ref) => ref !== node);
  }
}

/** Remove column `index` of a table: unique combinations and synthetic masks follow the
 * positions of the columns after it. */
export function removeColumn(room: Room, table: RoomNode, index: number): void {
  const columns = table.fields["columns"] as Json[];
  columns.splice(index, 1);
  const combos = Array.isArray(table.fields["unique_column_combinations"]) ? table.fields["unique_column_combinations"] as number[][] : [];
  const kept = combos.filter((combo) => !combo.includes(index)).map((combo) => combo.map((i) => (i > index ? i - 1 : i)));
  setField(table.fields, "unique_column_combinations", kept.length ? kept : null);
  for (const node of room.nodes) {
    if (node.kind !== "synthetic" || node.deps[0] !== table || !Array.isArray(node.fields["columns"])) continue;
    const masks = (node.fields["columns"] as JsonObject[]).filter((column) => column["index"] !== index)
      .map((column) => (Number(column["index"]) > index ? { ...column, index: Number(column["index"]) - 1 } : column));
    setField(node.fields, "columns", masks.length ? masks : null);
  }
}

// -- checks as people type -------------------------------------------------------------------------
const NODE_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9_ -]*[a-zA-Z0-9])$/;
const EMAIL = /^[^@\s,\x00-\x1f\x7f-\x9f]+@[^@\s,\x00-\x1f\x7f-\x9f]+$/;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

export function isEmail(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value) && !/[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/.test(value);
}

/** A problem with one control of the form: `field` is the control's key (see builder.ts). */
export interface Problem { field: string; message: string }

function inRange(value: unknown, low: number, high: number, lowOpen: boolean, highOpen: boolean): boolean {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  return (lowOpen ? value > low : value >= low) && (highOpen ? value < high : value <= high);
}

/** Whether a node reaches itself through its inputs. */
function inCycle(node: RoomNode, room: Room): boolean {
  const seen = new Set<RoomNode>();
  const stack: RoomNode[] = effectiveDeps(node, room).filter(isNode);
  while (stack.length) {
    const next = stack.pop()!;
    if (next === node) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...effectiveDeps(next, room).filter(isNode));
  }
  return false;
}

/** Problems of the room as it is being typed, keyed by control (`n<uid>-name`, …). */
export function problems(room: Room): Problem[] {
  const found: Problem[] = [];
  const add = (field: string, message: string): void => { found.push({ field, message }); };
  const name = String(room.fields["name"] ?? "");
  if (!name.trim()) add("room-name", "Give the data clean room a name.");
  else if (name.length > 200) add("room-name", "A name has at most 200 characters.");
  const seen = new Map<string, RoomNode>();
  const budget = asObject(room.fields["privacy"])["dp_epsilon_budget"];
  for (const node of room.nodes) {
    const id = `n${node.uid}`;
    const label = nodeName(node);
    if (!label) add(`${id}-name`, "Give it a name.");
    else if (label.length > 100 || !NODE_NAME.test(label)) {
      add(`${id}-name`, "Use letters, digits, _, - and spaces, starting with a letter and not ending with a space, _ or -.");
    } else if (seen.has(label.toLowerCase())) {
      add(`${id}-name`, `Another dataset or computation is already named “${nodeName(seen.get(label.toLowerCase())!)}” (names ignore case).`);
    }
    if (label) seen.set(label.toLowerCase(), seen.get(label.toLowerCase()) ?? node);
    if (node.kind === "table") checkTable(node, id, add);
    if (node.kind === "sql") {
      const query = String(node.fields["query"] ?? "");
      if (!query.trim()) add(`${id}-query`, "Write the query.");
      const unknown = unknownTables(node, room.nodes);
      if (unknown.length) add(`${id}-query`, `The query reads ${unknown.map((t) => `“${t}”`).join(", ")}, which this room has no dataset or computation of.`);
      if (!node.derive) {
        const chosen = new Set(node.deps.map((ref) => refName(ref).toLowerCase()));
        const missing = derivedDependencies(node, room.nodes).filter((dep) => !chosen.has(nodeName(dep).toLowerCase()));
        if (missing.length) add(`${id}-deps`, `The query reads ${missing.map((dep) => `“${nodeName(dep)}”`).join(", ")}: tick it as an input.`);
      }
      const minimum = node.fields["minimum_rows_count"];
      if (minimum != null && !(Number.isInteger(minimum) && inRange(minimum, 2, 100_000, false, false))) {
        add(`${id}-minimum`, "The privacy filter minimum is a whole number from 2 to 100,000.");
      }
      const epsilon = node.fields["dp_epsilon"];
      if (epsilon != null) {
        if (!inRange(epsilon, 0, 10, true, false)) add(`${id}-epsilon`, "ε is more than 0 and at most 10.");
        if (budget === undefined || budget === null) add(`${id}-epsilon`, "Differential privacy needs the room's privacy budget ε (Room privacy settings).");
      }
      const delta = node.fields["dp_delta"];
      if (delta != null && !inRange(delta, 0, 0.001, true, true)) add(`${id}-delta`, "δ is more than 0 and less than 0.001.");
      if (minimum != null || epsilon != null) {
        const notTables = effectiveDeps(node, room).filter((dep) => isNode(dep) && dep.kind !== "table");
        if (notTables.length) add(`${id}-privacy`, `Privacy settings protect rows of tables as published: ${notTables.map((dep) => `“${refName(dep)}”`).join(", ")} is a computation (compute it in a CTE of this query instead).`);
      }
    }
    if (node.kind === "python" || node.kind === "r") {
      if (!String(node.fields["script"] ?? "").trim()) add(`${id}-script`, "Write the script.");
      const files = Array.isArray(node.fields["additional_files"]) ? node.fields["additional_files"] as JsonObject[] : [];
      const main = node.kind === "python" ? "main.py" : "main.R";
      files.forEach((file, index) => {
        const fileName = String(file["name"] ?? "");
        if (!FILE_NAME.test(fileName)) add(`${id}-f${index}-name`, "A file name uses letters, digits, ., _ and - (up to 100), not starting with . or -.");
        else if (fileName === main) add(`${id}-f${index}-name`, `${main} is the script itself: choose another name.`);
        else if (files.findIndex((other) => other["name"] === fileName) !== index) add(`${id}-f${index}-name`, "Two files have this name.");
      });
    }
    if (node.kind === "synthetic") {
      if (!node.deps[0]) add(`${id}-source`, "Choose the table to synthesise.");
      if (!inRange(node.fields["epsilon"], 0, 100, true, false)) add(`${id}-epsilon`, "ε is more than 0 and at most 100.");
      if (budget === undefined || budget === null) add(`${id}-epsilon`, "Synthetic data needs the room's privacy budget ε (Room privacy settings).");
    }
    if (node.kind === "preview" && !node.deps[0]) add(`${id}-source`, "Choose the computation it previews.");
    if (!isData(node) && inCycle(node, room)) add(`${id}-name`, "This computation depends on itself through its inputs.");
  }
  const emails = new Set<string>();
  for (const person of room.people) {
    const email = String(person.fields["email"] ?? "").trim();
    if (!isEmail(email)) add(`p${person.uid}-email`, "Type an e-mail address, like ann@bank.example.");
    else if (emails.has(email.toLowerCase())) add(`p${person.uid}-email`, "This participant is listed twice.");
    emails.add(email.toLowerCase());
  }
  const privacy = asObject(room.fields["privacy"]);
  if (privacy["dp_epsilon_budget"] != null && !inRange(privacy["dp_epsilon_budget"], 0, 1000, true, false)) {
    add("privacy-budget", "The budget ε is more than 0 and at most 1000.");
  }
  if (privacy["dp_delta_budget"] != null && !inRange(privacy["dp_delta_budget"], 0, 0.01, true, true)) {
    add("privacy-delta", "The budget δ is more than 0 and less than 0.01.");
  }
  return found;
}

function checkTable(node: RoomNode, id: string, add: (field: string, message: string) => void): void {
  const columns = Array.isArray(node.fields["columns"]) ? node.fields["columns"] as JsonObject[] : [];
  if (columns.length === 0) add(`${id}-columns`, "A table has at least one column: Add column.");
  const names = new Set<string>();
  columns.forEach((column, index) => {
    const cid = `${id}-c${index}`;
    const columnName = String(column["name"] ?? "");
    if (!columnName) add(`${cid}-name`, "Name the column.");
    else if (columnName.length > 128) add(`${cid}-name`, "A column name has at most 128 characters.");
    else if (names.has(columnName)) add(`${cid}-name`, "Two columns have this name.");
    names.add(columnName);
    if (column["format_type"] === "DECIMAL") {
      const precision = column["precision"];
      const scale = column["scale"];
      if (!(Number.isInteger(precision) && inRange(precision, 1, 38, false, false))) add(`${cid}-precision`, "Precision is 1 to 38 digits.");
      else if (!(Number.isInteger(scale) && inRange(scale, 0, Number(precision), false, false))) add(`${cid}-scale`, `Scale is 0 to the precision (${String(precision)}).`);
    }
    const range = asObject(column["in_range"]);
    const low = range["greater_than"] ?? range["greater_than_equals"];
    const high = range["less_than"] ?? range["less_than_equals"];
    if (typeof low === "number" && typeof high === "number" && low > high) add(`${cid}-high`, "The upper bound is below the lower bound.");
  });
}
