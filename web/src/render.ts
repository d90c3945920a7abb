// Rendering a room definition (the verified JSON of the core's canonical form) for people:
// its datasets with their typed columns and rules, its computations, the compute graph drawn,
// the participants and their permissions, the settings.

import { h, svg } from "./dom";

/* The definition's JSON, as the core's canonical form has it (docs/room-definition.md). */
export interface Column {
  name: string;
  format_type: string;
  is_nullable: boolean;
  hash_with?: string | null;
  in_range?: Record<string, number | null> | null;
}
export interface NodeDef {
  kind: string;
  name: string;
  [field: string]: unknown;
}
export interface Participant {
  email: string;
  data_owner_of: string[];
  analyst_of: string[];
  permissions?: unknown[];
}
export interface Definition {
  name: string;
  description?: string;
  owner: string;
  nodes: NodeDef[];
  participants: Participant[];
  interactive?: boolean;
  enable_development?: boolean;
  privacy?: Record<string, unknown>;
  [field: string]: unknown;
}

export const DATA_KINDS = new Set(["table", "raw"]);

export function dependenciesOf(node: NodeDef): string[] {
  const deps = node["dependencies"];
  if (Array.isArray(deps)) return deps.map(String);
  const single = node["dependency"] ?? node["source"];
  return typeof single === "string" ? [single] : [];
}

export function columnsOf(node: NodeDef): Column[] {
  return Array.isArray(node["columns"]) ? (node["columns"] as Column[]) : [];
}

function range(column: Column): string {
  const r = column.in_range;
  if (!r) return "";
  const parts: string[] = [];
  if (r["greater_than"] != null) parts.push(`> ${r["greater_than"]}`);
  if (r["greater_than_equals"] != null) parts.push(`≥ ${r["greater_than_equals"]}`);
  if (r["less_than"] != null) parts.push(`< ${r["less_than"]}`);
  if (r["less_than_equals"] != null) parts.push(`≤ ${r["less_than_equals"]}`);
  return parts.join(", ");
}

export function renderDatasets(definition: Definition): HTMLElement {
  const data = definition.nodes.filter((node) => DATA_KINDS.has(node.kind));
  if (data.length === 0) return h("p", { class: "muted" }, "No datasets.");
  return h("div", {}, ...data.map((node) => h("div", { class: "card" },
    h("h3", {}, `${node.name} `, h("span", { class: "pill" }, node.kind === "table" ? "table" : "file"),
      node["is_required"] ? h("span", { class: "pill" }, "required before running") : null),
    node.kind === "table"
      ? h("table", {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Type"),
            h("th", { scope: "col" }, "Nullable"), h("th", { scope: "col" }, "Rules"))),
          h("tbody", {}, ...columnsOf(node).map((column) => h("tr", {},
            h("td", {}, h("code", {}, column.name)), h("td", {}, column.format_type),
            h("td", {}, column.is_nullable ? "yes" : "no"),
            h("td", {}, [range(column), column.hash_with ? `hashed with ${column.hash_with}` : ""]
              .filter(Boolean).join("; ")))))
        )
      : h("p", { class: "muted" }, "Any file (JSON, TXT, ZIP, …)."),
    uniqueness(node),
  )));
}

function uniqueness(node: NodeDef): HTMLElement | null {
  const combos = node["unique_column_combinations"];
  if (!Array.isArray(combos) || combos.length === 0) return null;
  const columns = columnsOf(node);
  const text = combos.map((combo: number[]) => combo.map((i) => columns[i]?.name ?? `#${i}`).join(" + "));
  return h("p", { class: "muted" }, `Unique: ${text.join("; ")}`);
}

export function renderComputations(definition: Definition): HTMLElement {
  const compute = definition.nodes.filter((node) => !DATA_KINDS.has(node.kind));
  if (compute.length === 0) return h("p", { class: "muted" }, "No computations.");
  return h("div", {}, ...compute.map((node) => h("div", { class: "card" },
    h("h3", {}, `${node.name} `, h("span", { class: "pill" }, node.kind.toUpperCase())),
    dependenciesOf(node).length ? h("p", { class: "muted" }, `Uses: ${dependenciesOf(node).join(", ")}`) : null,
    typeof node["query"] === "string" ? h("pre", {}, h("code", {}, node["query"] as string)) : null,
    typeof node["script"] === "string" ? h("pre", {}, h("code", {}, node["script"] as string)) : null,
    privacyLine(node),
  )));
}

function privacyLine(node: NodeDef): HTMLElement | null {
  const parts: string[] = [];
  if (typeof node["minimum_rows_count"] === "number") {
    parts.push(`privacy filter: every result row aggregates at least ${node["minimum_rows_count"]} rows`);
  }
  if (typeof node["dp_epsilon"] === "number") parts.push(`differential privacy: ε = ${node["dp_epsilon"]}`);
  if (typeof node["epsilon"] === "number") parts.push(`synthetic data: ε = ${node["epsilon"]}`);
  return parts.length ? h("p", {}, parts.join(" · ")) : null;
}

export function renderParticipants(definition: Definition): HTMLElement {
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Participant"),
      h("th", { scope: "col" }, "Data owner of"), h("th", { scope: "col" }, "Analyst of"))),
    h("tbody", {}, ...definition.participants.map((p) => h("tr", {},
      h("td", {}, p.email, p.email === definition.owner ? h("span", { class: "pill" }, "owner") : null),
      h("td", {}, p.data_owner_of.join(", ") || "–"),
      h("td", {}, p.analyst_of.join(", ") || "–")))));
}

export function renderSettings(definition: Definition): HTMLElement {
  const privacy = definition.privacy ?? {};
  return h("ul", {},
    h("li", {}, `Owner: ${definition.owner}`),
    h("li", {}, definition.interactive
      ? "Interactive: participants may request new computations, approved by the data owners they affect"
      : "Not interactive: the definition can never change"),
    h("li", {}, definition.enable_development ? "Development environment enabled" : "No development environment"),
    privacy["dp_epsilon_budget"] != null ? h("li", {}, `Differential privacy budget: ε = ${privacy["dp_epsilon_budget"]}`) : null,
  );
}

/** The compute graph drawn: data nodes on the left, each computation one column right of its
 * deepest input, an arrow per dependency. */
export function renderGraph(definition: Definition): SVGElement {
  const depth = new Map<string, number>();
  const byName = new Map(definition.nodes.map((node) => [node.name, node]));
  const depthOf = (name: string, seen: Set<string> = new Set()): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (seen.has(name)) return 0;
    seen.add(name);
    const node = byName.get(name);
    const deps = node ? dependenciesOf(node) : [];
    const value = deps.length ? 1 + Math.max(...deps.map((dep) => depthOf(dep, seen))) : 0;
    depth.set(name, value);
    return value;
  };
  definition.nodes.forEach((node) => depthOf(node.name));
  const columns: string[][] = [];
  for (const node of definition.nodes) (columns[depth.get(node.name)!] ??= []).push(node.name);
  const boxWidth = 190, boxHeight = 34, gapX = 70, gapY = 18;
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((names, col) => names.forEach((name, row) =>
    position.set(name, { x: 10 + col * (boxWidth + gapX), y: 10 + row * (boxHeight + gapY) })));
  const width = 20 + columns.length * (boxWidth + gapX) - gapX;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (boxHeight + gapY) - gapY;
  const graph = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": "Compute graph: " + definition.nodes.filter((n) => !DATA_KINDS.has(n.kind))
      .map((n) => `${n.name} uses ${dependenciesOf(n).join(" and ") || "nothing"}`).join("; ") });
  graph.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#57606a" }))));
  for (const node of definition.nodes) {
    const to = position.get(node.name)!;
    for (const dep of dependenciesOf(node)) {
      const from = position.get(dep);
      if (!from) continue;
      graph.append(svg("line", { x1: from.x + boxWidth, y1: from.y + boxHeight / 2, x2: to.x - 2,
        y2: to.y + boxHeight / 2, stroke: "#57606a", "stroke-width": 1.5, "marker-end": "url(#arrow)" }));
    }
  }
  for (const node of definition.nodes) {
    const { x, y } = position.get(node.name)!;
    const data = DATA_KINDS.has(node.kind);
    graph.append(
      svg("rect", { x, y, width: boxWidth, height: boxHeight, rx: 6, fill: data ? "#e8f0fb" : "#f6f8fa",
        stroke: data ? "#0b5cad" : "#8c959f" }),
      svg("text", { x: x + 10, y: y + 21, "font-size": 13, fill: "#1b1f24" },
        `${node.name.slice(0, 22)} (${data ? (node.kind === "table" ? "table" : "file") : node.kind})`),
    );
  }
  return graph;
}

/** A published definition as a template (what `sealroom dcr export` writes): no salt, the
 * format marker first. */
export function asTemplate(definition: Definition): string {
  const { salt: _salt, version, ...rest } = definition as Definition & { salt?: string; version?: number };
  return JSON.stringify({ format: "sealroom/room-definition", version, ...rest }, null, 2) + "\n";
}
