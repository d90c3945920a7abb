// src/api.ts
var ApiError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.name = "ApiError";
  }
  status;
  code;
};
function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}
function authHeaders() {
  const token = csrfToken();
  return token ? { "X-CSRF-Token": token } : {};
}
async function request(path, options = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  let body;
  if (options.jsonText !== void 0) body = options.jsonText;
  else if (options.json !== void 0) body = JSON.stringify(options.json);
  if (body !== void 0) headers["Content-Type"] = "application/json";
  if (options.proof) headers["Sealroom-Proof"] = options.proof;
  const query = options.query ? `?${new URLSearchParams(options.query)}` : "";
  const response = await fetch(path + query, {
    method: options.method ?? (body === void 0 ? "GET" : "POST"),
    headers,
    credentials: "same-origin",
    ...body === void 0 ? {} : { body }
  });
  if (!response.ok) throw await problem(response);
  return response;
}
async function getJson(path, query) {
  return await (await request(path, query ? { query } : {})).json();
}
async function sendJson(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? void 0 : await response.json();
}
async function problem(response) {
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
  }
  try {
    const body = await response.json();
    return new ApiError(response.status, body.code ?? "error", body.detail ?? response.statusText);
  } catch {
    return new ApiError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}

// src/bytes.ts
var encoder = new TextEncoder();
var decoder = new TextDecoder("utf-8", { fatal: true });
function utf8(text) {
  return encoder.encode(text);
}
function fromUtf8(data) {
  return decoder.decode(data);
}
function toHex(data) {
  let out = "";
  for (const byte of data) out += byte.toString(16).padStart(2, "0");
  return out;
}
function fromHex(text) {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new Error("not a hex string");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function toBase64(data) {
  let binary = "";
  for (let i = 0; i < data.length; i += 32768) {
    binary += String.fromCharCode(...data.subarray(i, i + 32768));
  }
  return btoa(binary);
}
function fromBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Error("not a base64 string");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
function toBase64Url(data) {
  return toBase64(data).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not a base64url string");
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(padded + "=".repeat((4 - padded.length % 4) % 4));
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
function buffer(data) {
  return data.slice().buffer;
}
async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buffer(data)));
}
async function sha256Hex(data) {
  return toHex(await sha256(data));
}

// src/csvprep.ts
var SAMPLE_BYTES = 64 * 1024;
var DELIMITERS = [",", ";", "	", "|"];
var SAMPLE_RECORDS = 50;
function normaliseName(name) {
  return name.trim().toLowerCase().replace(/[\s_-]+/g, "");
}
function sampleRecords(text, delimiter, limit) {
  const parser = new CsvParser(delimiter);
  const records = parser.push(text);
  return records.slice(0, limit);
}
function inspectCsv(sample, columns) {
  const text = sample.startsWith("\uFEFF") ? sample.slice(1) : sample;
  const delimiter = detectDelimiter(text);
  const records = sampleRecords(text, delimiter, SAMPLE_RECORDS + 1);
  const problems2 = [];
  const first = records[0] ?? [];
  const wanted = columns.map(normaliseName);
  const matches = first.filter((field) => wanted.includes(normaliseName(field))).length;
  const isHeader = first.length > 0 && matches * 2 >= first.length && matches > 0;
  let order = columns.map((_, index) => index);
  if (isHeader) {
    const names = first.map(normaliseName);
    order = [];
    for (const [index, column] of columns.entries()) {
      const found = names.indexOf(wanted[index]);
      if (found < 0) {
        problems2.push(`the file has no column ${JSON.stringify(column)}${closest(column, first)}`);
      } else if (names.indexOf(wanted[index], found + 1) >= 0) {
        problems2.push(`the file has the column ${JSON.stringify(column)} more than once`);
      }
      order.push(found);
    }
    for (const field of first) {
      if (!wanted.includes(normaliseName(field))) {
        problems2.push(
          `the file's column ${JSON.stringify(field)} is not a column of this table${closest(field, [...columns])}`
        );
      }
    }
  }
  const body = isHeader ? records.slice(1) : records;
  const width = isHeader ? first.length : columns.length;
  const bad = body.findIndex((record) => record.length !== width);
  if (bad >= 0) {
    const row = bad + 1 + (isHeader ? 1 : 0);
    problems2.push(
      `line ${row} of the file has ${body[bad].length} fields, the table has ${width} columns`
    );
  }
  const identity = order.every((value, index) => value === index);
  return {
    delimiter,
    header: isHeader ? first : null,
    order,
    asIs: !isHeader && delimiter === "," && identity && !sample.startsWith("\uFEFF"),
    problems: problems2,
    preview: body.slice(0, 5).map((record) => order.map((index) => record[index] ?? ""))
  };
}
function detectDelimiter(text) {
  for (const delimiter of DELIMITERS) {
    const records = sampleRecords(text, delimiter, SAMPLE_RECORDS).filter((r) => r.length > 0);
    const widths = new Set(records.map((record) => record.length));
    if (records.length > 0 && widths.size === 1 && records[0].length > 1) return delimiter;
  }
  return ",";
}
function closest(name, candidates) {
  let best = "";
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(normaliseName(name), normaliseName(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best && bestDistance <= Math.max(2, name.length / 3) ? ` (did you mean ${JSON.stringify(best)}?)` : "";
}
function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)
      );
    }
    previous = current;
  }
  return previous[b.length];
}
var CsvParser = class {
  constructor(delimiter) {
    this.delimiter = delimiter;
  }
  delimiter;
  field = "";
  record = [];
  quoted = false;
  afterQuote = false;
  pendingCr = false;
  /** An unfinished line kept by the fast path for the next push. */
  carry = "";
  /** Whether the last push was read by the fast path (its fields hold no quote, CR or LF). */
  lastWasFast = false;
  push(text) {
    text = this.carry + text;
    this.carry = "";
    this.lastWasFast = false;
    const clean2 = !this.quoted && !this.afterQuote && !this.pendingCr && this.field === "" && this.record.length === 0;
    if (clean2 && !text.includes('"') && !(text.includes("\r") && /\r(?!\n)/.test(text))) {
      const cut = text.lastIndexOf("\n");
      if (cut < 0) {
        this.carry = text;
        return [];
      }
      this.carry = text.slice(cut + 1);
      this.lastWasFast = true;
      return text.slice(0, cut).split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line).split(this.delimiter));
    }
    return this.parse(text);
  }
  parse(text) {
    const done = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (this.pendingCr) {
        this.pendingCr = false;
        if (ch === "\n") continue;
      }
      if (this.quoted) {
        if (ch === '"') {
          this.quoted = false;
          this.afterQuote = true;
        } else {
          this.field += ch;
        }
        continue;
      }
      if (ch === '"') {
        if (this.afterQuote) this.field += '"';
        this.quoted = true;
        this.afterQuote = false;
      } else if (ch === this.delimiter) {
        this.record.push(this.field);
        this.field = "";
        this.afterQuote = false;
      } else if (ch === "\n" || ch === "\r") {
        this.record.push(this.field);
        done.push(this.record);
        this.record = [];
        this.field = "";
        this.afterQuote = false;
        this.pendingCr = ch === "\r";
      } else {
        this.field += ch;
        this.afterQuote = false;
      }
    }
    return done;
  }
  /** The last record if the file did not end with a line break. */
  finish() {
    const done = this.carry ? this.parse(this.carry) : [];
    this.carry = "";
    if (this.field === "" && this.record.length === 0) return done;
    this.record.push(this.field);
    const last = this.record;
    this.record = [];
    this.field = "";
    return [...done, last];
  }
};

// src/dom.ts
function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}
function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}
function setAttributes(element, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === void 0 || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
}
function append(element, children) {
  for (const child of children) {
    if (child === null || child === void 0 || child === false) continue;
    element.append(typeof child === "number" ? String(child) : child);
  }
}
function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}
function replace(element, ...children) {
  clear(element);
  append(element, children);
}
function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
var NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
function isNumeric(values) {
  const present = values.filter((value) => value !== "");
  return present.length > 0 && present.every((value) => NUMBER.test(value));
}
function dataTable(columns, rows, caption, options = {}) {
  const numeric = columns.map((_, index) => isNumeric(rows.map((row) => row[index] ?? "")));
  const cellClass = (index) => [numeric[index] ? "num" : "", options.nowrap?.includes(index) ? "nowrap" : ""].join(" ").trim() || null;
  return h(
    "table",
    {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, ...columns.map((column, index) => h("th", { scope: "col", class: cellClass(index) }, column)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map((_, index) => h("td", { class: cellClass(index) }, row[index] ?? "")))))
  );
}
function barChart(columns, rows, title) {
  if (rows.length < 2 || rows.length > 50 || columns.length < 2) return null;
  const numericColumns = columns.map((_, index) => index).filter((index) => isNumeric(rows.map((row) => row[index] ?? "")));
  const valueIndex = numericColumns.at(-1) ?? -1;
  if (valueIndex < 0 || numericColumns.length === columns.length) return null;
  const labels = rows.map((row) => row.filter((_, index) => index !== valueIndex).join(" · "));
  const values = rows.map((row) => Number(row[valueIndex] ?? "0") || 0);
  const max = Math.max(...values.map(Math.abs), 1);
  const barHeight = 22;
  const labelWidth = 260;
  const width = 760;
  const height = rows.length * (barHeight + 6) + 10;
  const chart = svg("svg", {
    class: "bar-chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `${title}: ${columns[valueIndex]} by ${columns.filter((_, i) => i !== valueIndex).join(", ")}`
  });
  rows.forEach((_, index) => {
    const y = 5 + index * (barHeight + 6);
    const barWidth = Math.max(1, Math.abs(values[index]) / max * (width - labelWidth - 80));
    chart.append(
      svg("text", { x: labelWidth - 8, y: y + 15, "text-anchor": "end" }, labels[index].slice(0, 40)),
      svg("rect", { x: labelWidth, y, width: barWidth, height: barHeight, rx: 3 }),
      svg("text", { x: labelWidth + barWidth + 6, y: y + 15 }, String(values[index]))
    );
  });
  return chart;
}
function download(name, data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const link = h("a", { href: url, download: name, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1e4);
}
function formatBytes(size) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// src/render.ts
var DATA_KINDS = /* @__PURE__ */ new Set(["table", "raw"]);
function dependenciesOf(node) {
  const deps = node["dependencies"];
  if (Array.isArray(deps)) return deps.map(String);
  const single = node["dependency"] ?? node["source"];
  return typeof single === "string" ? [single] : [];
}
function columnsOf(node) {
  return Array.isArray(node["columns"]) ? node["columns"] : [];
}
function range(column) {
  const r = column.in_range;
  if (!r) return "";
  const parts = [];
  if (r["greater_than"] != null) parts.push(`> ${r["greater_than"]}`);
  if (r["greater_than_equals"] != null) parts.push(`≥ ${r["greater_than_equals"]}`);
  if (r["less_than"] != null) parts.push(`< ${r["less_than"]}`);
  if (r["less_than_equals"] != null) parts.push(`≤ ${r["less_than_equals"]}`);
  return parts.join(", ");
}
function renderDatasets(definition) {
  const data = definition.nodes.filter((node) => DATA_KINDS.has(node.kind));
  if (data.length === 0) return h("p", { class: "muted" }, "No datasets.");
  return h("div", {}, ...data.map((node) => h(
    "div",
    { class: "card" },
    h(
      "h3",
      {},
      `${node.name} `,
      h("span", { class: "pill" }, node.kind === "table" ? "table" : "file"),
      node["is_required"] ? h("span", { class: "pill" }, "required before running") : null
    ),
    node.kind === "table" ? h(
      "table",
      {},
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Column"),
        h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Nullable"),
        h("th", { scope: "col" }, "Rules")
      )),
      h("tbody", {}, ...columnsOf(node).map((column) => h(
        "tr",
        {},
        h("td", {}, h("code", {}, column.name)),
        h("td", {}, column.format_type),
        h("td", {}, column.is_nullable ? "yes" : "no"),
        h("td", {}, [range(column), column.hash_with ? `hashed with ${column.hash_with}` : ""].filter(Boolean).join("; "))
      )))
    ) : h("p", { class: "muted" }, "Any file (JSON, TXT, ZIP, …)."),
    uniqueness(node)
  )));
}
function uniqueness(node) {
  const combos = node["unique_column_combinations"];
  if (!Array.isArray(combos) || combos.length === 0) return null;
  const columns = columnsOf(node);
  const text = combos.map((combo) => combo.map((i) => columns[i]?.name ?? `#${i}`).join(" + "));
  return h("p", { class: "muted" }, `Unique: ${text.join("; ")}`);
}
function renderComputations(definition) {
  const compute = definition.nodes.filter((node) => !DATA_KINDS.has(node.kind));
  if (compute.length === 0) return h("p", { class: "muted" }, "No computations.");
  return h("div", {}, ...compute.map((node) => h(
    "div",
    { class: "card" },
    h("h3", {}, `${node.name} `, h("span", { class: "pill" }, node.kind.toUpperCase())),
    dependenciesOf(node).length ? h("p", { class: "muted" }, `Uses: ${dependenciesOf(node).join(", ")}`) : null,
    typeof node["query"] === "string" ? h("pre", {}, h("code", {}, node["query"])) : null,
    typeof node["script"] === "string" ? h("pre", {}, h("code", {}, node["script"])) : null,
    privacyLine(node)
  )));
}
function privacyLine(node) {
  const parts = [];
  if (typeof node["minimum_rows_count"] === "number") {
    parts.push(`privacy filter: every result row aggregates at least ${node["minimum_rows_count"]} rows`);
  }
  if (typeof node["dp_epsilon"] === "number") parts.push(`differential privacy: ε = ${node["dp_epsilon"]}`);
  if (typeof node["epsilon"] === "number") parts.push(`synthetic data: ε = ${node["epsilon"]}`);
  return parts.length ? h("p", {}, parts.join(" · ")) : null;
}
function renderParticipants(definition) {
  return h(
    "table",
    {},
    h("thead", {}, h(
      "tr",
      {},
      h("th", { scope: "col" }, "Participant"),
      h("th", { scope: "col" }, "Data owner of"),
      h("th", { scope: "col" }, "Analyst of")
    )),
    h("tbody", {}, ...definition.participants.map((p) => h(
      "tr",
      {},
      h("td", {}, p.email, p.email === definition.owner ? h("span", { class: "pill" }, "owner") : null),
      h("td", {}, p.data_owner_of.join(", ") || "–"),
      h("td", {}, p.analyst_of.join(", ") || "–")
    )))
  );
}
function renderSettings(definition) {
  const privacy = definition.privacy ?? {};
  return h(
    "ul",
    {},
    h("li", {}, `Owner: ${definition.owner}`),
    h("li", {}, definition.interactive ? "Interactive: participants may request new computations, approved by the data owners they affect" : "Not interactive: the definition can never change"),
    h("li", {}, definition.enable_development ? "Development environment enabled" : "No development environment"),
    privacy["dp_epsilon_budget"] != null ? h("li", {}, `Differential privacy budget: ε = ${privacy["dp_epsilon_budget"]}`) : null
  );
}
function renderGraph(definition) {
  const depth = /* @__PURE__ */ new Map();
  const byName = new Map(definition.nodes.map((node) => [node.name, node]));
  const depthOf = (name, seen = /* @__PURE__ */ new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const node = byName.get(name);
    const deps = node ? dependenciesOf(node) : [];
    const value = deps.length ? 1 + Math.max(...deps.map((dep) => depthOf(dep, seen))) : 0;
    depth.set(name, value);
    return value;
  };
  definition.nodes.forEach((node) => depthOf(node.name));
  const columns = [];
  for (const node of definition.nodes) (columns[depth.get(node.name)] ??= []).push(node.name);
  const boxWidth = 190, boxHeight = 34, gapX = 70, gapY = 18;
  const position = /* @__PURE__ */ new Map();
  columns.forEach((names, col) => names.forEach((name, row) => position.set(name, { x: 10 + col * (boxWidth + gapX), y: 10 + row * (boxHeight + gapY) })));
  const width = 20 + columns.length * (boxWidth + gapX) - gapX;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (boxHeight + gapY) - gapY;
  const graph = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": "Compute graph: " + definition.nodes.filter((n) => !DATA_KINDS.has(n.kind)).map((n) => `${n.name} uses ${dependenciesOf(n).join(" and ") || "nothing"}`).join("; ")
  });
  graph.append(svg("defs", {}, svg("marker", {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: 10,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: "auto-start-reverse"
  }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#57606a" }))));
  for (const node of definition.nodes) {
    const to = position.get(node.name);
    for (const dep of dependenciesOf(node)) {
      const from = position.get(dep);
      if (!from) continue;
      graph.append(svg("line", {
        x1: from.x + boxWidth,
        y1: from.y + boxHeight / 2,
        x2: to.x - 2,
        y2: to.y + boxHeight / 2,
        stroke: "#57606a",
        "stroke-width": 1.5,
        "marker-end": "url(#arrow)"
      }));
    }
  }
  for (const node of definition.nodes) {
    const { x, y } = position.get(node.name);
    const data = DATA_KINDS.has(node.kind);
    graph.append(
      svg("rect", {
        x,
        y,
        width: boxWidth,
        height: boxHeight,
        rx: 6,
        fill: data ? "#e8f0fb" : "#f6f8fa",
        stroke: data ? "#0b5cad" : "#8c959f"
      }),
      svg(
        "text",
        { x: x + 10, y: y + 21, "font-size": 13, fill: "#1b1f24" },
        `${node.name.slice(0, 22)} (${data ? node.kind === "table" ? "table" : "file" : node.kind})`
      )
    );
  }
  return graph;
}
function asTemplate(definition) {
  const { salt: _salt, version, ...rest } = definition;
  return JSON.stringify({ format: "sealroom/room-definition", version, ...rest }, null, 2) + "\n";
}

// src/canonical.ts
var MAX_DEPTH = 64;
function canonicalJson(value) {
  return utf8(encode(value, 0));
}
function encode(value, depth) {
  if (depth > MAX_DEPTH) throw new Error(`canonical JSON: nesting deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("canonical JSON: only safe integers");
    return String(value);
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(",")}]`;
  const keys = Object.keys(value);
  for (const key of keys) {
    if (/[\uD800-\uDFFF]/.test(key)) throw new Error("canonical JSON: key outside the BMP");
  }
  keys.sort();
  const fields = keys.map((key) => `${encodeString(key)}:${encode(value[key], depth + 1)}`);
  return `{${fields.join(",")}}`;
}
function encodeString(text) {
  if (!text.isWellFormed()) throw new Error("canonical JSON: a lone surrogate");
  return JSON.stringify(text);
}

// src/actions.ts
var PURPOSE = utf8("sealroom/participant-action/v1");
function call(roomId, action2, args = {}) {
  return { roomId, action: action2, arguments: args };
}
function actionMessage(actionCall, publicKeyRaw, nonce, issuedAtMs) {
  return concat(
    PURPOSE,
    canonicalJson({
      room_id: actionCall.roomId,
      action: actionCall.action,
      arguments: { ...actionCall.arguments },
      nonce,
      issued_at_ms: issuedAtMs,
      public_key: toHex(publicKeyRaw)
    })
  );
}
async function signAction(key, publicKeyRaw, actionCall, nowMs, certificate) {
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  return signActionWithNonce(key, publicKeyRaw, actionCall, nowMs, nonce, certificate ?? null);
}
async function signActionWithNonce(key, publicKeyRaw, actionCall, nowMs, nonce, certificate) {
  if (publicKeyRaw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  if (!/^[0-9a-f]{32}$/.test(nonce)) throw new Error("a nonce is 32 lower-case hex digits");
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new Error("the time must be ms since 1970");
  const message = actionMessage(actionCall, publicKeyRaw, nonce, nowMs);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key, buffer(message))
  );
  return proofHeader(publicKeyRaw, certificate, nonce, nowMs, signature);
}
function proofHeader(publicKeyRaw, certificate, nonce, issuedAtMs, signature) {
  const body = {
    public_key: toHex(publicKeyRaw),
    certificate: certificate === null ? null : toBase64(certificate),
    nonce,
    issued_at_ms: issuedAtMs,
    signature: toHex(signature)
  };
  return toBase64Url(canonicalJson(body));
}
function publishRoom(roomId) {
  return call(roomId, "publish_room");
}
async function publishDataset(roomId, node, datasetId, sealedKey, replacePassing, replaces) {
  return call(roomId, "publish_dataset", {
    node,
    dataset_id: datasetId,
    sealed_key: await sha256Hex(sealedKey),
    replace_passing: replacePassing ? "true" : "false",
    ...replaces === void 0 ? {} : { replaces }
  });
}
function retrieveValidationReport(roomId, node) {
  return call(roomId, "retrieve_validation_report", { node });
}
function runComputation(roomId, node, parameters, recipientKey) {
  return call(roomId, "run_computation", {
    node,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
async function runDevelopment(roomId, node, parameters, recipientKey) {
  return call(roomId, "run_development", {
    node: await sha256Hex(canonicalJson(node)),
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
function previewRequest(roomId, requestId, parameters, recipientKey) {
  return call(roomId, "preview_request", {
    request_id: requestId,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
function retrieveResult(roomId, jobId, recipientKey, resultFormat) {
  return call(roomId, "retrieve_result", {
    job_id: jobId,
    recipient_key: toHex(recipientKey),
    format: resultFormat ?? ""
  });
}
function retrieveDatasetStatistics(roomId, node, recipientKey) {
  return call(roomId, "retrieve_dataset_statistics", { node, recipient_key: toHex(recipientKey) });
}
function shareDatasetStatistics(roomId, node, datasetId, shared) {
  return call(roomId, "share_dataset_statistics", {
    node,
    dataset_id: datasetId,
    shared: shared ? "true" : "false"
  });
}
function approveRequest(roomId, requestId) {
  return call(roomId, "approve_request", { request_id: requestId });
}
function rejectRequest(roomId, requestId, reason) {
  return call(roomId, "reject_request", { request_id: requestId, reason });
}
function integrateRequest(roomId, requestId) {
  return call(roomId, "integrate_request", { request_id: requestId });
}
function encodeParameters(parameters) {
  const values = {};
  for (const [name, value] of Object.entries(parameters ?? {})) {
    if (typeof value !== "string") throw new Error(`parameter ${name} must be a string`);
    values[name] = value;
  }
  return fromUtf8(canonicalJson(values));
}

// src/trust.ts
var VerificationError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "VerificationError";
  }
};
var AttestationError = class extends VerificationError {
  constructor(message) {
    super(message);
    this.name = "AttestationError";
  }
};
async function ed25519Verify(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  let key;
  try {
    key = await crypto.subtle.importKey("raw", buffer(publicKey), { name: "Ed25519" }, false, [
      "verify"
    ]);
  } catch {
    return false;
  }
  try {
    return await crypto.subtle.verify({ name: "Ed25519" }, key, buffer(signature), buffer(message));
  } catch {
    return false;
  }
}
function strictHex(value, bytes, what) {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value)) {
    throw new VerificationError(`${what} is not lower-case hex`);
  }
  const raw = fromHex(value);
  if (bytes !== null && raw.length !== bytes) {
    throw new VerificationError(`${what} is not ${bytes} bytes`);
  }
  return raw;
}
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function isSafeInt(value) {
  return typeof value === "number" && Number.isSafeInteger(value);
}
function codePoints(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
function asFetcher(source) {
  if (typeof source !== "function") return source;
  return {
    json: source,
    text: () => Promise.reject(new Error("this fetcher only gets JSON")),
    request: () => Promise.reject(new Error("this fetcher only gets JSON"))
  };
}
var HttpError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.name = "HttpError";
  }
  status;
  code;
};
function makeFetcher(headers = {}, base = "") {
  async function request2(path, init = {}) {
    const merged = new Headers(init.headers);
    for (const [name, value] of Object.entries(headers)) {
      if (!merged.has(name)) merged.set(name, value);
    }
    const response = await fetch(base + path, {
      ...init,
      headers: merged,
      credentials: "same-origin"
    });
    if (!response.ok) {
      let code = "";
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (isObject(body)) {
          if (typeof body["code"] === "string") code = body["code"];
          if (typeof body["detail"] === "string") detail = body["detail"];
        }
      } catch {
      }
      throw new HttpError(response.status, code, `${path}: ${detail}`);
    }
    return response;
  }
  return {
    request: request2,
    async json(path) {
      const response = await request2(path, { headers: { Accept: "application/json" } });
      return await response.json();
    },
    async text(path) {
      return await (await request2(path)).text();
    }
  };
}
function defaultMemory() {
  return globalThis.localStorage;
}
var memoryKeys = {
  serverPin: "sealroom/core-keys/server",
  roomPin: (roomId) => `sealroom/core-keys/rooms/${checkRoomId(roomId)}`,
  checkpoint: (roomId) => `sealroom/audit-checkpoints/${checkRoomId(roomId)}`,
  roomVersion: (roomId) => `sealroom/room-versions/${checkRoomId(roomId)}`
};
function checkRoomId(roomId) {
  if (!/^[0-9a-f]{64}$/.test(roomId)) throw new VerificationError("a room id is 64 lower-case hex digits");
  return roomId;
}
function readRecord(memory, key) {
  const text = memory.getItem(key);
  if (text === null) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!isObject(value)) {
    throw new VerificationError(
      `what this browser saved under ${key} is unreadable; clear this site's data to trust the server afresh`
    );
  }
  return value;
}
function writeRecord(memory, key, value) {
  memory.setItem(key, JSON.stringify(value));
}
function recordForKey(memory, key, roomId, verifyKey) {
  const record = readRecord(memory, key);
  if (record === null) return null;
  if (record["core_public_key"] !== toHex(verifyKey)) {
    throw new VerificationError(
      `the core's signing key changed since this browser last verified room ${roomId}: the server may have been replaced. If that is expected, clear this site's data`
    );
  }
  return record;
}

// src/attestation.ts
var SIMULATED_PROVIDER = "simulated";
var CORE_ENCLAVE_NAME = "sealroom.core";
var MIN_NONCE_BYTES = 16;
var MAX_NONCE_BYTES = 64;
var DEFAULT_MAX_AGE_MS = 3e5;
var MAX_CLOCK_SKEW_MS = 6e4;
var SIMULATED_EVIDENCE_DOMAIN = "sealroom/simulated-evidence/v1";
function specificationId(spec) {
  return `${spec.name}:${spec.version}`;
}
var SPEC_FIELDS = ["name", "version", "measurement", "accepted_providers"];
var HARDWARE_SPEC_FIELDS = ["snp_launch_measurements", "nitro_pcrs", "snp_min_tcb", "snp_vmpl"];
function parseSpecifications(data) {
  const items = Array.isArray(data) ? data : [data];
  const specs = [];
  for (const item of items) {
    if (!isObject(item) || !SPEC_FIELDS.every((f) => f in item) || !Object.keys(item).every((f) => SPEC_FIELDS.includes(f) || HARDWARE_SPEC_FIELDS.includes(f))) {
      throw new Error(`an enclave specification has exactly the fields ${SPEC_FIELDS.join(", ")}`);
    }
    const { name, version, measurement } = item;
    const providers = item["accepted_providers"];
    if (typeof name !== "string" || !name || typeof version !== "string" || !version) {
      throw new Error("enclave specification: name and version must be non-empty strings");
    }
    if (typeof measurement !== "string" || !/^[0-9a-f]{64}$/.test(measurement)) {
      throw new Error("enclave specification: measurement must be 64 lower-case hex digits");
    }
    if (!Array.isArray(providers) || providers.length === 0 || !providers.every((p) => typeof p === "string" && p)) {
      throw new Error("enclave specification: accepted_providers must be a non-empty list");
    }
    const spec = { name, version, measurement, acceptedProviders: [...providers] };
    if (specs.some((seen) => specificationId(seen) === specificationId(spec))) {
      throw new Error(`two specifications ${specificationId(spec)}`);
    }
    specs.push(Object.freeze(spec));
  }
  return specs;
}
var TOKEN = /* @__PURE__ */ Symbol("verifyAttestation");
var VerifiedAttestation = class {
  provider;
  measurement;
  coreVersion;
  /** True when nothing but software stands behind the attestation: show it on the page. */
  simulated;
  /** The document's own warning (SIMULATED_WARNING for simulated evidence). */
  warning;
  issuedAtMs;
  /** X25519, raw 32 bytes: seal dataset keys to it. */
  kemPublicKey;
  /** Ed25519, raw 32 bytes: check the core's signatures with it. */
  verifyKey;
  specification;
  document;
  constructor(token, document2, specification) {
    if (token !== TOKEN) throw new TypeError("VerifiedAttestation is built only by verifyAttestation()");
    this.document = document2;
    this.specification = specification;
    this.provider = document2.provider;
    this.measurement = document2.measurement;
    this.coreVersion = document2.core_version;
    this.simulated = document2.provider === SIMULATED_PROVIDER;
    this.warning = document2.warning;
    this.issuedAtMs = document2.issued_at_ms;
    this.kemPublicKey = fromHex(document2.kem_public_key);
    this.verifyKey = fromHex(document2.signing_public_key);
    Object.freeze(this);
  }
  /** The core's Ed25519 key as a WebCrypto key (for callers that want one). */
  async verifyCryptoKey() {
    return crypto.subtle.importKey("raw", this.verifyKey.slice().buffer, { name: "Ed25519" }, true, [
      "verify"
    ]);
  }
};
var HEX64 = /^[0-9a-f]{64}$/;
var DOCUMENT_FIELDS = {
  // Not a boolean, exactly 1 (pydantic: int, ge=1, le=1).
  version: (v) => v === 1,
  provider: (v) => typeof v === "string" && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(v),
  measurement: (v) => typeof v === "string" && HEX64.test(v),
  core_version: (v) => typeof v === "string" && /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/.test(v),
  kem_public_key: (v) => typeof v === "string" && HEX64.test(v),
  signing_public_key: (v) => typeof v === "string" && HEX64.test(v),
  nonce: (v) => typeof v === "string" && new RegExp(`^(?:[0-9a-f]{2}){${MIN_NONCE_BYTES},${MAX_NONCE_BYTES}}$`).test(v),
  issued_at_ms: (v) => isSafeInt(v) && v >= 0,
  report_data: (v) => typeof v === "string" && HEX64.test(v),
  evidence: (v) => isObject(v),
  warning: (v) => typeof v === "string" && codePoints(v) <= 1e3
};
var OPTIONAL_FIELDS = { version: 1, warning: "" };
function parseAttestationDocument(raw) {
  if (!isObject(raw)) throw new AttestationError("malformed attestation document (not a JSON object)");
  const bad = /* @__PURE__ */ new Set();
  for (const key of Object.keys(raw)) if (!(key in DOCUMENT_FIELDS)) bad.add(key);
  const body = {};
  for (const [field, valid] of Object.entries(DOCUMENT_FIELDS)) {
    const value = field in raw ? raw[field] : OPTIONAL_FIELDS[field];
    if (value === void 0 || !valid(value)) bad.add(field);
    body[field] = value;
  }
  if (bad.size > 0) {
    throw new AttestationError(`malformed attestation document (fields: ${[...bad].sort().join(", ")})`);
  }
  return Object.freeze(body);
}
async function computeReportData(document2) {
  return sha256Hex(
    canonicalJson({
      measurement: document2.measurement,
      core_version: document2.core_version,
      kem_public_key: document2.kem_public_key,
      signing_public_key: document2.signing_public_key,
      nonce: document2.nonce,
      provider: document2.provider,
      issued_at_ms: document2.issued_at_ms
    })
  );
}
async function verifyAttestation(raw, specs, options) {
  const document2 = parseAttestationDocument(raw);
  let candidates = specs.filter((spec) => spec.name === CORE_ENCLAVE_NAME);
  if (candidates.length === 0) {
    throw new AttestationError(`no enclave specification for '${CORE_ENCLAVE_NAME}' was given`);
  }
  candidates = candidates.filter((spec) => spec.acceptedProviders.includes(document2.provider));
  if (candidates.length === 0) {
    throw new AttestationError(
      `attestation provider '${document2.provider}' is not accepted by the specification`
    );
  }
  const specification = candidates.find((spec) => spec.measurement === document2.measurement);
  if (specification === void 0) {
    throw new AttestationError(
      `the core runs code you do not trust: it reports measurement ${document2.measurement}, which no specification you trust has (you trust: ${candidates.map(specificationId).sort().join(", ")}). The core states version ${document2.core_version} (its own claim).`
    );
  }
  if (document2.nonce !== toHex(options.nonce)) {
    throw new AttestationError("the attestation document is not for our nonce (replayed)");
  }
  const now = options.nowMs ?? Date.now();
  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (document2.issued_at_ms > now + MAX_CLOCK_SKEW_MS) {
    throw new AttestationError("the attestation document is issued in the future (clock skew?)");
  }
  if (now - document2.issued_at_ms > maxAge) {
    throw new AttestationError(`the attestation document is older than ${maxAge} ms (stale)`);
  }
  const reportData = await computeReportData(document2);
  if (reportData !== document2.report_data) {
    throw new AttestationError("report_data does not match the document (keys swapped?)");
  }
  if (document2.provider !== SIMULATED_PROVIDER) {
    throw new AttestationError(
      `the core attests with '${document2.provider}' evidence, which this browser cannot verify yet (it can only verify simulated evidence): verify the server with the SDK (\`sealroom attest URL\`)`
    );
  }
  const evidence = document2.evidence;
  const signature = evidence["signature"];
  if (Object.keys(evidence).length !== 1 || typeof signature !== "string") {
    throw new AttestationError("simulated evidence must be exactly {'signature': hex}");
  }
  let signatureBytes;
  try {
    signatureBytes = fromHex(signature);
  } catch {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  const message = new Uint8Array([
    ...new TextEncoder().encode(SIMULATED_EVIDENCE_DOMAIN),
    ...fromHex(reportData)
  ]);
  if (!await ed25519Verify(fromHex(document2.signing_public_key), signatureBytes, message)) {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  return new VerifiedAttestation(TOKEN, document2, specification);
}
function freshNonce() {
  return crypto.getRandomValues(new Uint8Array(32));
}
async function attest(fetcher, specs, options = {}) {
  const nonce = options.nonce ?? freshNonce();
  const document2 = await fetcher.json(`/v1/enclave/attestation?nonce=${toHex(nonce)}`);
  const verified = await verifyAttestation(document2, specs, {
    nonce,
    ...options.nowMs === void 0 ? {} : { nowMs: options.nowMs }
  });
  checkServerPin(verified, options.memory ?? defaultMemory());
  return verified;
}
function checkServerPin(attested, memory = defaultMemory()) {
  checkPin(memory, memoryKeys.serverPin, attested, "this server", { origin: globalThis.location?.origin ?? "" });
}
function checkRoomPin(roomId, attested, memory = defaultMemory()) {
  const key = memoryKeys.roomPin(roomId);
  if (memory.getItem(key) === null) {
    for (const earlier of [memoryKeys.checkpoint(roomId), memoryKeys.roomVersion(roomId)]) {
      const record = readRecord(memory, earlier);
      if (record !== null && record["core_public_key"] !== toHex(attested.verifyKey)) {
        throw changed(`room ${roomId}`, earlier);
      }
    }
  }
  checkPin(memory, key, attested, `room ${roomId}`, {});
}
function checkPin(memory, key, attested, what, extra) {
  const current = {
    core_public_key: toHex(attested.verifyKey),
    kem_public_key: toHex(attested.kemPublicKey)
  };
  const stored = readRecord(memory, key);
  if (stored === null) {
    writeRecord(memory, key, { ...extra, ...current });
    return;
  }
  if (typeof stored["core_public_key"] !== "string" || typeof stored["kem_public_key"] !== "string") {
    throw new VerificationError(
      `the pinned core keys of ${what} (${key}) are unreadable; clear this site's data to trust the server afresh`
    );
  }
  if (stored["core_public_key"] !== current.core_public_key || stored["kem_public_key"] !== current.kem_public_key) {
    throw changed(what, key);
  }
}
function changed(what, key) {
  return new VerificationError(
    `the core of ${what} presents other keys than the ones this browser pinned (${key}): the server may be posing as the core, and nothing was sent. If the operator replaced the core on purpose, confirm its new key with them (\`sealroom attest\`), then clear this site's data`
  );
}

// src/keys.ts
var DB_NAME = "sealroom-keys";
var DB_VERSION = 1;
var STORE = "signing-keys";
var RENEW_BEFORE_MS = 24 * 60 * 60 * 1e3;
var ED25519_PKCS8_PREFIX = Uint8Array.from([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  112,
  4,
  34,
  4,
  32
]);
var NoKeyError = class extends Error {
  constructor(email) {
    super(
      `this browser holds no signing key for ${email}: create one (and keep its backup) or import the SDK's (\`sealroom keys export\`)`
    );
    this.name = "NoKeyError";
  }
};
function normaliseEmail(email) {
  return email.trim().toLowerCase();
}
function fingerprint(publicKeyRaw) {
  return sha256Hex(publicKeyRaw);
}
function formatFingerprint(fingerprintHex) {
  return (fingerprintHex.match(/.{1,4}/g) ?? []).join(" ");
}
function pemFromPkcs8(der) {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----
${lines.join("\n")}
-----END PRIVATE KEY-----
`;
}
function pkcs8FromPem(pem) {
  const match = /^\s*-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/.exec(
    pem
  );
  if (match === null) throw new Error("not an unencrypted PEM private key");
  const der = fromBase64(match[1].replace(/\s+/g, ""));
  const prefixOk = der.length === ED25519_PKCS8_PREFIX.length + 32 && ED25519_PKCS8_PREFIX.every((byte, i) => der[i] === byte);
  if (!prefixOk) throw new Error("not an Ed25519 private key");
  return der;
}
async function importPkcs8(der, extractable) {
  return crypto.subtle.importKey("pkcs8", buffer(der), { name: "Ed25519" }, extractable, ["sign"]);
}
async function publicKeyOf(privateKey) {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new Error("not an Ed25519 key");
  return fromBase64Url(jwk.x);
}
function openDb() {
  return new Promise((resolve, reject) => {
    const request2 = indexedDB.open(DB_NAME, DB_VERSION);
    request2.onupgradeneeded = () => {
      request2.result.createObjectStore(STORE, { keyPath: "email" });
    };
    request2.onsuccess = () => resolve(request2.result);
    request2.onerror = () => reject(request2.error ?? new Error("IndexedDB is unavailable"));
  });
}
async function transact(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request2 = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request2.result);
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}
async function loadKey(email) {
  const address = normaliseEmail(email);
  const found = await transact("readonly", (store) => store.get(address));
  return found ?? null;
}
async function storeKey(record) {
  await transact("readwrite", (store) => store.put(record));
}
async function keep(email, extractableKey, der, replace2) {
  const address = normaliseEmail(email);
  if (!replace2 && await loadKey(address) !== null) {
    throw new Error(`this browser already holds a signing key for ${address}`);
  }
  const publicKeyRaw = await publicKeyOf(extractableKey);
  const privateKey = await importPkcs8(der, false);
  const record = {
    email: address,
    privateKey,
    publicKeyRaw,
    fingerprint: await fingerprint(publicKeyRaw),
    createdAtMs: Date.now(),
    certificates: {}
  };
  await storeKey(record);
  return record;
}
async function createKey(email, options = {}) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify"
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const key = await keep(email, pair.privateKey, der, options.replace ?? false);
    return { key, backupPem: pemFromPkcs8(der) };
  } finally {
    der.fill(0);
  }
}
async function importPem(email, pem, options = {}) {
  const der = pkcs8FromPem(pem);
  try {
    const extractable = await importPkcs8(der, true);
    return await keep(email, extractable, der, options.replace ?? false);
  } finally {
    der.fill(0);
  }
}
async function rootFingerprint(pem) {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (match === null) throw new Error("a trust root must be one PEM certificate");
  return sha256Hex(fromBase64(match[1].replace(/\s+/g, "")));
}
function keptCertificate(key, rootFingerprintHex, nowMs = Date.now()) {
  const kept = key.certificates[rootFingerprintHex];
  if (kept === void 0 || kept.notAfterMs - RENEW_BEFORE_MS < nowMs) return null;
  return kept.der;
}
async function api(path, context2, body) {
  const headers = { Accept: "application/json", ...context2.headers ?? {} };
  if (body !== void 0) headers["Content-Type"] = "application/json";
  const response = await fetch((context2.baseUrl ?? "") + path, {
    method: body === void 0 ? "GET" : "POST",
    headers,
    credentials: "same-origin",
    ...body === void 0 ? {} : { body: JSON.stringify(body) }
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
    }
    throw new Error(`${path}: ${detail}`);
  }
  return await response.json();
}
async function platformCertificate(key, rootFingerprintHex, context2 = {}) {
  const kept = keptCertificate(key, rootFingerprintHex);
  if (kept !== null) return kept;
  const root = await api("/v1/pki/root", context2);
  if (await rootFingerprint(root.certificate) !== rootFingerprintHex) return null;
  const issued = await api(
    "/v1/pki/certificates",
    context2,
    { public_key: toHex(key.publicKeyRaw) }
  );
  if (issued.fingerprint !== key.fingerprint) {
    throw new Error("the platform's CA answered with a certificate of another key than yours");
  }
  const der = fromBase64(issued.certificate);
  const current = await loadKey(key.email);
  if (current !== null && current.fingerprint === key.fingerprint) {
    current.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
    await storeKey(current);
  }
  key.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
  return der;
}
async function certificateFor(key, room, context2 = {}) {
  if (!room) return null;
  const identity = (room.identities ?? []).find(
    (item) => normaliseEmail(item.email) === key.email
  );
  if (identity === void 0 || !identity.root) return null;
  const root = (room.trust_roots ?? []).find((item) => item.name === identity.root);
  if (root === void 0) return null;
  const rootFp = await rootFingerprint(root.certificate);
  let certificate = keptCertificate(key, rootFp);
  if (certificate === null && root.operator) {
    certificate = await platformCertificate(key, rootFp, context2);
  }
  if (certificate === null) {
    throw new Error(
      `this room recognises you by certificates from its trust root '${root.name}' (fingerprint ${formatFingerprint(rootFp.slice(0, 16))} …), and this browser has none for your key: ask that CA for one`
    );
  }
  return certificate;
}
function pageHeaders() {
  if (typeof document === "undefined") return {};
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  return token ? { "X-CSRF-Token": token } : {};
}
async function participantSigner(email, context2 = {}) {
  const key = await loadKey(email);
  if (key === null) throw new NoKeyError(normaliseEmail(email));
  const requests = { ...context2, headers: context2.headers ?? pageHeaders() };
  return {
    email: key.email,
    fingerprint: key.fingerprint,
    publicKeyRaw: key.publicKeyRaw,
    async prove(call2, room) {
      const resolved = await call2;
      const certificate = await certificateFor(key, room, requests);
      return signAction(key.privateKey, key.publicKeyRaw, resolved, Date.now(), certificate);
    }
  };
}

// src/pages/keys.ts
async function mount(section) {
  const email = section.dataset["user"];
  const status = h("div", { "aria-live": "polite" });
  const render2 = async (message) => {
    const key = await loadKey(email);
    replace(status, message ?? null, key ? h(
      "p",
      {},
      "This browser holds your signing key. Fingerprint ",
      h("code", { "data-fingerprint": key.fingerprint }, formatFingerprint(key.fingerprint)),
      `, created ${new Date(key.createdAtMs).toISOString().slice(0, 10)}. It cannot be read out of this browser.`
    ) : h("p", {}, "This browser holds no signing key for you yet. One is made the first time you act in a room, or create or import one here."));
  };
  const create = h("button", { type: "button" }, "Create a new signing key");
  create.addEventListener("click", async () => {
    try {
      const existing = await loadKey(email);
      if (existing && !window.confirm("Replace the signing key this browser holds? Rooms that pin the old key will no longer recognise you.")) return;
      const { backupPem } = await createKey(email, { replace: existing !== null });
      await render2(backupNotice(email, backupPem));
    } catch (error) {
      await render2(notice("error", errorText(error)));
    }
  });
  const pemInput = h("textarea", { id: "pem", rows: 5, "aria-describedby": "pem-hint" });
  const importButton = h("button", { type: "button", class: "secondary" }, "Import key");
  importButton.addEventListener("click", async () => {
    try {
      const existing = await loadKey(email);
      await importPem(email, pemInput.value, { replace: existing !== null });
      pemInput.value = "";
      await render2(notice("ok", "Imported: this browser now signs with the same key as your SDK."));
    } catch (error) {
      await render2(notice("error", errorText(error)));
    }
  });
  replace(
    section,
    status,
    h("h2", {}, "Create"),
    create,
    h("h2", {}, "Use your SDK key here"),
    h("label", { for: "pem" }, "Private key (PEM)"),
    pemInput,
    h("p", { class: "hint", id: "pem-hint" }, "From `sealroom keys export`. It is imported as a non-extractable key and never sent anywhere."),
    importButton
  );
  await render2();
  section.setAttribute("aria-busy", "false");
}
function backupNotice(email, pem) {
  const save = h("button", { type: "button", class: "secondary" }, "Download backup of my key");
  save.addEventListener("click", () => download(`sealroom-key-${email}.pem`, pem, "application/x-pem-file"));
  return notice(
    "ok",
    "A signing key was created for you in this browser. ",
    "Download its backup now: it is offered only once, and with it `sealroom keys import` lets the SDK sign as you. Keep it secret. ",
    save
  );
}

// node_modules/@hpke/common/esm/src/errors.js
var HpkeError = class extends Error {
  constructor(e) {
    let message;
    if (e instanceof Error) {
      message = e.message;
    } else if (typeof e === "string") {
      message = e;
    } else {
      message = "";
    }
    super(message);
    this.name = this.constructor.name;
  }
};
var InvalidParamError = class extends HpkeError {
};
var SerializeError = class extends HpkeError {
};
var DeserializeError = class extends HpkeError {
};
var EncapError = class extends HpkeError {
};
var DecapError = class extends HpkeError {
};
var ExportError = class extends HpkeError {
};
var SealError = class extends HpkeError {
};
var OpenError = class extends HpkeError {
};
var MessageLimitReachedError = class extends HpkeError {
};
var DeriveKeyPairError = class extends HpkeError {
};
var NotSupportedError = class extends HpkeError {
};

// node_modules/@hpke/common/esm/_dnt.shims.js
var dntGlobals = {};
var dntGlobalThis = createMergeProxy(globalThis, dntGlobals);
function createMergeProxy(baseObj, extObj) {
  return new Proxy(baseObj, {
    get(_target, prop, _receiver) {
      if (prop in extObj) {
        return extObj[prop];
      } else {
        return baseObj[prop];
      }
    },
    set(_target, prop, value) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      baseObj[prop] = value;
      return true;
    },
    deleteProperty(_target, prop) {
      let success = false;
      if (prop in extObj) {
        delete extObj[prop];
        success = true;
      }
      if (prop in baseObj) {
        delete baseObj[prop];
        success = true;
      }
      return success;
    },
    ownKeys(_target) {
      const baseKeys = Reflect.ownKeys(baseObj);
      const extKeys = Reflect.ownKeys(extObj);
      const extKeysSet = new Set(extKeys);
      return [...baseKeys.filter((k) => !extKeysSet.has(k)), ...extKeys];
    },
    defineProperty(_target, prop, desc) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      Reflect.defineProperty(baseObj, prop, desc);
      return true;
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (prop in extObj) {
        return Reflect.getOwnPropertyDescriptor(extObj, prop);
      } else {
        return Reflect.getOwnPropertyDescriptor(baseObj, prop);
      }
    },
    has(_target, prop) {
      return prop in extObj || prop in baseObj;
    }
  });
}

// node_modules/@hpke/common/esm/src/algorithm.js
async function loadSubtleCrypto() {
  if (dntGlobalThis !== void 0 && globalThis.crypto !== void 0) {
    return globalThis.crypto.subtle;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto.subtle;
  } catch (e) {
    throw new NotSupportedError(e);
  }
}
var NativeAlgorithm = class {
  constructor() {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
  }
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadSubtleCrypto();
  }
};

// node_modules/@hpke/common/esm/src/identifiers.js
var Mode = {
  Base: 0,
  Psk: 1,
  Auth: 2,
  AuthPsk: 3
};
var KemId = {
  NotAssigned: 0,
  DhkemP256HkdfSha256: 16,
  DhkemP384HkdfSha384: 17,
  DhkemP521HkdfSha512: 18,
  DhkemSecp256k1HkdfSha256: 19,
  DhkemX25519HkdfSha256: 32,
  DhkemX448HkdfSha512: 33,
  HybridkemX25519Kyber768: 48,
  MlKem512: 64,
  MlKem768: 65,
  MlKem1024: 66,
  XWing: 25722
};
var KdfId = {
  HkdfSha256: 1,
  HkdfSha384: 2,
  HkdfSha512: 3,
  Sha3256: 4,
  Sha3384: 5,
  Sha3512: 6,
  Shake128: 16,
  Shake256: 17,
  TurboShake128: 18,
  TurboShake256: 19
};
var AeadId = {
  Aes128Gcm: 1,
  Aes256Gcm: 2,
  Chacha20Poly1305: 3,
  ExportOnly: 65535
};

// node_modules/@hpke/common/esm/src/consts.js
var INPUT_LENGTH_LIMIT = 8192;
var INFO_LENGTH_LIMIT = 268435456;
var MINIMUM_PSK_LENGTH = 32;
var EMPTY = /* @__PURE__ */ new Uint8Array(0);

// node_modules/@hpke/common/esm/src/interfaces/kemInterface.js
var SUITE_ID_HEADER_KEM = /* @__PURE__ */ new Uint8Array([
  75,
  69,
  77,
  0,
  0
]);

// node_modules/@hpke/common/esm/src/kdfs/hkdf.js
var HPKE_VERSION = /* @__PURE__ */ new Uint8Array([
  72,
  80,
  75,
  69,
  45,
  118,
  49
]);
function toUint8Array(input) {
  return new Uint8Array(toArrayBuffer(input));
}
function toArrayBuffer(input) {
  if (input instanceof ArrayBuffer) {
    return input;
  }
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice().buffer;
  }
  return new Uint8Array(input).slice().buffer;
}
var HkdfNative = class extends NativeAlgorithm {
  constructor() {
    super();
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: EMPTY
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
  init(suiteId) {
    this._suiteId = suiteId;
  }
  buildLabeledIkm(label, ikm) {
    this._checkInit();
    const ret = new Uint8Array(7 + this._suiteId.byteLength + label.byteLength + ikm.byteLength);
    ret.set(HPKE_VERSION, 0);
    ret.set(this._suiteId, 7);
    ret.set(label, 7 + this._suiteId.byteLength);
    ret.set(ikm, 7 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  buildLabeledInfo(label, info, len) {
    this._checkInit();
    const ret = new Uint8Array(9 + this._suiteId.byteLength + label.byteLength + info.byteLength);
    ret.set(new Uint8Array([0, len]), 0);
    ret.set(HPKE_VERSION, 2);
    ret.set(this._suiteId, 9);
    ret.set(label, 9 + this._suiteId.byteLength);
    ret.set(info, 9 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  async extract(salt, ikm) {
    await this._setup();
    const saltBuf = salt.byteLength === 0 ? new ArrayBuffer(this.hashSize) : toArrayBuffer(salt);
    if (saltBuf.byteLength !== this.hashSize) {
      throw new InvalidParamError("The salt length must be the same as the hashSize");
    }
    const ikmBuf = toArrayBuffer(ikm);
    const key = await this._api.importKey("raw", saltBuf, this.algHash, false, [
      "sign"
    ]);
    return await this._api.sign("HMAC", key, ikmBuf);
  }
  async expand(prk, info, len) {
    await this._setup();
    const prkBuf = toArrayBuffer(prk);
    const key = await this._api.importKey("raw", prkBuf, this.algHash, false, [
      "sign"
    ]);
    const okm = new ArrayBuffer(len);
    const okmBytes = new Uint8Array(okm);
    let prev = EMPTY;
    const mid = toUint8Array(info);
    const tail = new Uint8Array(1);
    if (len > 255 * this.hashSize) {
      throw new Error("Entropy limit reached");
    }
    const tmp = new Uint8Array(this.hashSize + mid.length + 1);
    for (let i = 1, cur = 0; cur < okmBytes.length; i++) {
      tail[0] = i;
      tmp.set(prev, 0);
      tmp.set(mid, prev.length);
      tmp.set(tail, prev.length + mid.length);
      prev = new Uint8Array(await this._api.sign("HMAC", key, tmp.slice(0, prev.length + mid.length + 1)));
      if (okmBytes.length - cur >= prev.length) {
        okmBytes.set(prev, cur);
        cur += prev.length;
      } else {
        okmBytes.set(prev.slice(0, okmBytes.length - cur), cur);
        cur += okmBytes.length - cur;
      }
    }
    return okm;
  }
  async extractAndExpand(salt, ikm, info, len) {
    await this._setup();
    const ikmBuf = toArrayBuffer(ikm);
    const baseKey = await this._api.importKey("raw", ikmBuf, "HKDF", false, ["deriveBits"]);
    return await this._api.deriveBits({
      name: "HKDF",
      hash: this.algHash.hash,
      salt: toArrayBuffer(salt),
      info: toArrayBuffer(info)
    }, baseKey, len * 8);
  }
  async labeledExtract(salt, label, ikm) {
    return await this.extract(salt, this.buildLabeledIkm(label, ikm));
  }
  async labeledExpand(prk, label, info, len) {
    return await this.expand(prk, this.buildLabeledInfo(label, info, len), len);
  }
  _checkInit() {
    if (this._suiteId === EMPTY) {
      throw new Error("Not initialized. Call init()");
    }
  }
};
var HkdfSha256Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
};

// node_modules/@hpke/common/esm/src/utils/misc.js
var isCryptoKeyPair = (x) => typeof x === "object" && x !== null && typeof x.privateKey === "object" && typeof x.publicKey === "object";
function i2Osp(n, w) {
  if (w <= 0) {
    throw new Error("i2Osp: too small size");
  }
  if (n >= 256 ** w) {
    throw new Error("i2Osp: too large integer");
  }
  const ret = new Uint8Array(w);
  for (let i = 0; i < w && n; i++) {
    ret[w - (i + 1)] = n % 256;
    n = Math.floor(n / 256);
  }
  return ret;
}
function concat2(a, b) {
  const ret = new Uint8Array(a.length + b.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  return ret;
}
function base64UrlToBytes(v) {
  const base64 = v.replace(/-/g, "+").replace(/_/g, "/");
  const byteString = atob(base64);
  const ret = new Uint8Array(byteString.length);
  for (let i = 0; i < byteString.length; i++) {
    ret[i] = byteString.charCodeAt(i);
  }
  return ret;
}
function xor(a, b) {
  if (a.byteLength !== b.byteLength) {
    throw new Error("xor: different length inputs");
  }
  const buf = new Uint8Array(a.byteLength);
  for (let i = 0; i < a.byteLength; i++) {
    buf[i] = a[i] ^ b[i];
  }
  return buf;
}

// node_modules/@hpke/common/esm/src/kems/dhkem.js
var LABEL_EAE_PRK = /* @__PURE__ */ new Uint8Array([
  101,
  97,
  101,
  95,
  112,
  114,
  107
]);
var LABEL_SHARED_SECRET = /* @__PURE__ */ new Uint8Array([
  115,
  104,
  97,
  114,
  101,
  100,
  95,
  115,
  101,
  99,
  114,
  101,
  116
]);
function concat3(a, b, c) {
  const ret = new Uint8Array(a.length + b.length + c.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  ret.set(c, a.length + b.length);
  return ret;
}
var Dhkem = class {
  constructor(id, prim, kdf) {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_prim", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.id = id;
    this._prim = prim;
    this._kdf = kdf;
    const suiteId = new Uint8Array(SUITE_ID_HEADER_KEM);
    suiteId.set(i2Osp(this.id, 2), 3);
    this._kdf.init(suiteId);
  }
  async serializePublicKey(key) {
    return await this._prim.serializePublicKey(key);
  }
  async deserializePublicKey(key) {
    return await this._prim.deserializePublicKey(toArrayBuffer(key));
  }
  async serializePrivateKey(key) {
    return await this._prim.serializePrivateKey(key);
  }
  async deserializePrivateKey(key) {
    return await this._prim.deserializePrivateKey(toArrayBuffer(key));
  }
  async importKey(format, key, isPublic = true) {
    return await this._prim.importKey(format, key, isPublic);
  }
  async generateKeyPair() {
    return await this._prim.generateKeyPair();
  }
  async deriveKeyPair(ikm) {
    const rawIkm = toArrayBuffer(ikm);
    if (rawIkm.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long ikm");
    }
    return await this._prim.deriveKeyPair(rawIkm);
  }
  async encap(params) {
    let ke;
    if (params.ekm === void 0) {
      ke = await this.generateKeyPair();
    } else if (isCryptoKeyPair(params.ekm)) {
      ke = params.ekm;
    } else {
      ke = await this.deriveKeyPair(params.ekm);
    }
    const enc = await this._prim.serializePublicKey(ke.publicKey);
    const pkrm = await this._prim.serializePublicKey(params.recipientPublicKey);
    try {
      let dh;
      if (params.senderKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
      } else {
        const sks = isCryptoKeyPair(params.senderKey) ? params.senderKey.privateKey : params.senderKey;
        const dh1 = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
        const dh2 = new Uint8Array(await this._prim.dh(sks, params.recipientPublicKey));
        dh = concat2(dh1, dh2);
      }
      let kemContext;
      if (params.senderKey === void 0) {
        kemContext = concat2(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pks = isCryptoKeyPair(params.senderKey) ? params.senderKey.publicKey : await this._prim.derivePublicKey(params.senderKey);
        const pksm = await this._prim.serializePublicKey(pks);
        kemContext = concat3(new Uint8Array(enc), new Uint8Array(pkrm), new Uint8Array(pksm));
      }
      const sharedSecret = await this._generateSharedSecret(dh, kemContext);
      return {
        enc,
        sharedSecret
      };
    } catch (e) {
      throw new EncapError(e);
    }
  }
  async decap(params) {
    const enc = toArrayBuffer(params.enc);
    const pke = await this._prim.deserializePublicKey(enc);
    const skr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.privateKey : params.recipientKey;
    const pkr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.publicKey : await this._prim.derivePublicKey(params.recipientKey);
    const pkrm = await this._prim.serializePublicKey(pkr);
    try {
      let dh;
      if (params.senderPublicKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(skr, pke));
      } else {
        const dh1 = new Uint8Array(await this._prim.dh(skr, pke));
        const dh2 = new Uint8Array(await this._prim.dh(skr, params.senderPublicKey));
        dh = concat2(dh1, dh2);
      }
      let kemContext;
      if (params.senderPublicKey === void 0) {
        kemContext = concat2(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pksm = await this._prim.serializePublicKey(params.senderPublicKey);
        kemContext = new Uint8Array(enc.byteLength + pkrm.byteLength + pksm.byteLength);
        kemContext.set(new Uint8Array(enc), 0);
        kemContext.set(new Uint8Array(pkrm), enc.byteLength);
        kemContext.set(new Uint8Array(pksm), enc.byteLength + pkrm.byteLength);
      }
      return await this._generateSharedSecret(dh, kemContext);
    } catch (e) {
      throw new DecapError(e);
    }
  }
  async _generateSharedSecret(dh, kemContext) {
    const labeledIkm = this._kdf.buildLabeledIkm(LABEL_EAE_PRK, dh);
    const labeledInfo = this._kdf.buildLabeledInfo(LABEL_SHARED_SECRET, kemContext, this.secretSize);
    return await this._kdf.extractAndExpand(EMPTY, labeledIkm, labeledInfo, this.secretSize);
  }
};

// node_modules/@hpke/common/esm/src/interfaces/dhkemPrimitives.js
var KEM_USAGES = ["deriveBits"];
var LABEL_DKP_PRK = /* @__PURE__ */ new Uint8Array([
  100,
  107,
  112,
  95,
  112,
  114,
  107
]);
var LABEL_SK = /* @__PURE__ */ new Uint8Array([115, 107]);

// node_modules/@hpke/common/esm/src/kems/dhkemPrimitives/ec.js
var EC_P_521_PARAMS = {
  p: (1n << 521n) - 1n,
  b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
  gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  coordinateSize: 66
};

// node_modules/@hpke/common/esm/src/interfaces/aeadEncryptionContext.js
var AEAD_USAGES = ["encrypt", "decrypt"];

// node_modules/@hpke/common/esm/src/utils/noble.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >0, got ${n}`);
  }
}
function abytes(value, length, title = "") {
  const bytes = isBytes(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished) {
    throw new Error("Hash#digest() has already been called");
  }
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
var _endianTestBuffer = /* @__PURE__ */ new Uint32Array([287454020]);
var _endianTestBytes = /* @__PURE__ */ new Uint8Array(_endianTestBuffer.buffer);
var isLE = _endianTestBytes[0] === 68;

// node_modules/@hpke/common/esm/src/hash/hash.js
function ahash(h2) {
  if (typeof h2 !== "function" || typeof h2.create !== "function") {
    throw new Error("Hash must wrapped by utils.createHasher");
  }
  anumber(h2.outputLen);
  anumber(h2.blockLen);
}

// node_modules/@hpke/common/esm/src/hash/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    Object.defineProperty(this, "oHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "iHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function") {
      throw new Error("Expected instance of class which extends utils.Hash");
    }
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    abytes(out, this.outputLen, "output");
    this.finished = true;
    this.iHash.digestInto(out);
    this.oHash.update(out);
    this.oHash.digestInto(out);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to ||= Object.create(Object.getPrototypeOf(this), {});
    const { oHash, iHash, finished, destroyed, blockLen, outputLen } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = (hash, key, message) => new _HMAC(hash, key).update(message).digest();
hmac.create = (hash, key) => new _HMAC(hash, key);

// node_modules/@hpke/common/esm/src/hash/u64.js
var U32_MASK64 = 0xffffffffn;
var _32n = 32n;
function fromBig(n, le = false) {
  if (le) {
    return { h: Number(n & U32_MASK64), l: Number(n >> _32n & U32_MASK64) };
  }
  return {
    h: Number(n >> _32n & U32_MASK64) | 0,
    l: Number(n & U32_MASK64) | 0
  };
}
function split(lst, le = false) {
  const len = lst.length;
  const Ah = new Uint32Array(len);
  const Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h: h2, l } = fromBig(lst[i], le);
    [Ah[i], Al[i]] = [h2, l];
  }
  return [Ah, Al];
}

// node_modules/@hpke/common/esm/src/hash/sha3.js
var _0n = 0n;
var _1n = 1n;
var _2n = 2n;
var _7n = 7n;
var _256n = 256n;
var _0x71n = 0x71n;
var SHA3_PI = [];
var SHA3_ROTL = [];
var _SHA3_IOTA = [];
for (let round = 0, R = _1n, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI.push(2 * (5 * y + x));
  SHA3_ROTL.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n ^ (R >> _7n) * _0x71n) % _256n;
    if (R & _2n)
      t ^= _1n << (_1n << BigInt(j)) - _1n;
  }
  _SHA3_IOTA.push(t);
}
var IOTAS = split(_SHA3_IOTA, true);
var SHA3_IOTA_H = IOTAS[0];
var SHA3_IOTA_L = IOTAS[1];

// node_modules/@hpke/common/esm/src/curve/modular.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */

// node_modules/@hpke/common/esm/src/curve/montgomery.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */

// node_modules/@hpke/core/esm/src/aeads/aesGcm.js
var AesGcmContext = class extends NativeAlgorithm {
  constructor(key) {
    super();
    Object.defineProperty(this, "_rawKey", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_key", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._rawKey = toArrayBuffer(key);
  }
  async seal(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const ct = await this._api.encrypt(alg, this._key, toArrayBuffer(data));
    return ct;
  }
  async open(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const pt = await this._api.decrypt(alg, this._key, toArrayBuffer(data));
    return pt;
  }
  async _setupKey() {
    if (this._key !== void 0) {
      return;
    }
    await this._setup();
    const key = await this._importKey(this._rawKey);
    new Uint8Array(this._rawKey).fill(0);
    this._key = key;
    return;
  }
  async _importKey(key) {
    return await this._api.importKey("raw", key, { name: "AES-GCM" }, true, AEAD_USAGES);
  }
};
var Aes128Gcm = class {
  constructor() {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes128Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
  createEncryptionContext(key) {
    return new AesGcmContext(key);
  }
};
var Aes256Gcm = class extends Aes128Gcm {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes256Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
};

// node_modules/@hpke/core/esm/src/utils/emitNotSupported.js
function emitNotSupported() {
  return new Promise((_resolve, reject) => {
    reject(new NotSupportedError("Not supported"));
  });
}

// node_modules/@hpke/core/esm/src/exporterContext.js
var LABEL_SEC = new Uint8Array([115, 101, 99]);
var ExporterContextImpl = class {
  constructor(api2, kdf, exporterSecret) {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "exporterSecret", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._api = api2;
    this._kdf = kdf;
    this.exporterSecret = exporterSecret;
  }
  async seal(_data, _aad) {
    return await emitNotSupported();
  }
  async open(_data, _aad) {
    return await emitNotSupported();
  }
  async export(exporterContext, len) {
    const rawExporterContext = toArrayBuffer(exporterContext);
    if (rawExporterContext.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long exporter context");
    }
    try {
      return await this._kdf.labeledExpand(this.exporterSecret, LABEL_SEC, new Uint8Array(rawExporterContext), len);
    } catch (e) {
      throw new ExportError(e);
    }
  }
};
var RecipientExporterContextImpl = class extends ExporterContextImpl {
};
var SenderExporterContextImpl = class extends ExporterContextImpl {
  constructor(api2, kdf, exporterSecret, enc) {
    super(api2, kdf, exporterSecret);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.enc = enc;
    return;
  }
};

// node_modules/@hpke/core/esm/src/encryptionContext.js
var EncryptionContextImpl = class extends ExporterContextImpl {
  constructor(api2, kdf, params) {
    super(api2, kdf, params.exporterSecret);
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nK", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nN", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nT", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_ctx", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (params.key === void 0 || params.baseNonce === void 0 || params.seq === void 0) {
      throw new Error("Required parameters are missing");
    }
    this._aead = params.aead;
    this._nK = this._aead.keySize;
    this._nN = this._aead.nonceSize;
    this._nT = this._aead.tagSize;
    const key = this._aead.createEncryptionContext(params.key);
    this._ctx = {
      key,
      baseNonce: params.baseNonce,
      seq: params.seq
    };
  }
  computeNonce(k) {
    const seqBytes = i2Osp(k.seq, k.baseNonce.byteLength);
    return xor(k.baseNonce, seqBytes).buffer;
  }
  incrementSeq(k) {
    if (k.seq > Number.MAX_SAFE_INTEGER) {
      throw new MessageLimitReachedError("Message limit reached");
    }
    k.seq += 1;
    return;
  }
};

// node_modules/@hpke/core/esm/src/mutex.js
var __classPrivateFieldGet = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _Mutex_locked;
var Mutex = class {
  constructor() {
    _Mutex_locked.set(this, Promise.resolve());
  }
  async lock() {
    let releaseLock;
    const nextLock = new Promise((resolve) => {
      releaseLock = resolve;
    });
    const previousLock = __classPrivateFieldGet(this, _Mutex_locked, "f");
    __classPrivateFieldSet(this, _Mutex_locked, nextLock, "f");
    await previousLock;
    return releaseLock;
  }
};
_Mutex_locked = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/recipientContext.js
var __classPrivateFieldGet2 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet2 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _RecipientContextImpl_mutex;
var RecipientContextImpl = class extends EncryptionContextImpl {
  constructor() {
    super(...arguments);
    _RecipientContextImpl_mutex.set(this, void 0);
  }
  async open(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet2(this, _RecipientContextImpl_mutex, __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f").lock();
    let pt;
    try {
      pt = await this._ctx.key.open(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new OpenError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return pt;
  }
};
_RecipientContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/senderContext.js
var __classPrivateFieldGet3 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet3 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _SenderContextImpl_mutex;
var SenderContextImpl = class extends EncryptionContextImpl {
  constructor(api2, kdf, params, enc) {
    super(api2, kdf, params);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    _SenderContextImpl_mutex.set(this, void 0);
    this.enc = enc;
  }
  async seal(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet3(this, _SenderContextImpl_mutex, __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f").lock();
    let ct;
    try {
      ct = await this._ctx.key.seal(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new SealError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return ct;
  }
};
_SenderContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/cipherSuiteNative.js
var LABEL_BASE_NONCE = new Uint8Array([
  98,
  97,
  115,
  101,
  95,
  110,
  111,
  110,
  99,
  101
]);
var LABEL_EXP = new Uint8Array([101, 120, 112]);
var LABEL_INFO_HASH = new Uint8Array([
  105,
  110,
  102,
  111,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_KEY = new Uint8Array([107, 101, 121]);
var LABEL_PSK_ID_HASH = new Uint8Array([
  112,
  115,
  107,
  95,
  105,
  100,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_SECRET = new Uint8Array([115, 101, 99, 114, 101, 116]);
var SUITE_ID_HEADER_HPKE = new Uint8Array([
  72,
  80,
  75,
  69,
  0,
  0,
  0,
  0,
  0,
  0
]);
var CipherSuiteNative = class extends NativeAlgorithm {
  /**
   * @param params A set of parameters for building a cipher suite.
   *
   * If the error occurred, throws {@link InvalidParamError}.
   *
   * @throws {@link InvalidParamError}
   */
  constructor(params) {
    super();
    Object.defineProperty(this, "_kem", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (typeof params.kem === "number") {
      throw new InvalidParamError("KemId cannot be used");
    }
    this._kem = params.kem;
    if (typeof params.kdf === "number") {
      throw new InvalidParamError("KdfId cannot be used");
    }
    this._kdf = params.kdf;
    if (typeof params.aead === "number") {
      throw new InvalidParamError("AeadId cannot be used");
    }
    this._aead = params.aead;
    this._suiteId = new Uint8Array(SUITE_ID_HEADER_HPKE);
    this._suiteId.set(i2Osp(this._kem.id, 2), 4);
    this._suiteId.set(i2Osp(this._kdf.id, 2), 6);
    this._suiteId.set(i2Osp(this._aead.id, 2), 8);
    this._kdf.init(this._suiteId);
  }
  /**
   * Gets the KEM context of the ciphersuite.
   */
  get kem() {
    return this._kem;
  }
  /**
   * Gets the KDF context of the ciphersuite.
   */
  get kdf() {
    return this._kdf;
  }
  /**
   * Gets the AEAD context of the ciphersuite.
   */
  get aead() {
    return this._aead;
  }
  /**
   * Creates an encryption context for a sender.
   *
   * If the error occurred, throws {@link DecapError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the sender encryption context.
   * @returns A sender encryption context.
   * @throws {@link EncapError}, {@link ValidationError}
   */
  async createSenderContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const dh = await this._kem.encap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleS(mode, dh.sharedSecret, dh.enc, params);
  }
  /**
   * Creates an encryption context for a recipient.
   *
   * If the error occurred, throws {@link DecapError}
   * | {@link DeserializeError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the recipient encryption context.
   * @returns A recipient encryption context.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link ValidationError}
   */
  async createRecipientContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const sharedSecret = await this._kem.decap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderPublicKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderPublicKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleR(mode, sharedSecret, params);
  }
  /**
   * Encrypts a message to a recipient.
   *
   * If the error occurred, throws `EncapError` | `MessageLimitReachedError` | `SealError` | `ValidationError`.
   *
   * @param params A set of parameters for building a sender encryption context.
   * @param pt A plain text as bytes to be encrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A cipher text and an encapsulated key as bytes.
   * @throws {@link EncapError}, {@link MessageLimitReachedError}, {@link SealError}, {@link ValidationError}
   */
  async seal(params, pt, aad = EMPTY.buffer) {
    const ctx = await this.createSenderContext(params);
    return {
      ct: await ctx.seal(pt, aad),
      enc: ctx.enc
    };
  }
  /**
   * Decrypts a message from a sender.
   *
   * If the error occurred, throws `DecapError` | `DeserializeError` | `OpenError` | `ValidationError`.
   *
   * @param params A set of parameters for building a recipient encryption context.
   * @param ct An encrypted text as bytes to be decrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A decrypted plain text as bytes.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link OpenError}, {@link ValidationError}
   */
  async open(params, ct, aad = EMPTY.buffer) {
    const ctx = await this.createRecipientContext(params);
    return await ctx.open(ct, aad);
  }
  // private verifyPskInputs(mode: Mode, params: KeyScheduleParams) {
  //   const gotPsk = (params.psk !== undefined);
  //   const gotPskId = (params.psk !== undefined && params.psk.id.byteLength > 0);
  //   if (gotPsk !== gotPskId) {
  //     throw new Error('Inconsistent PSK inputs');
  //   }
  //   if (gotPsk && (mode === Mode.Base || mode === Mode.Auth)) {
  //     throw new Error('PSK input provided when not needed');
  //   }
  //   if (!gotPsk && (mode === Mode.Psk || mode === Mode.AuthPsk)) {
  //     throw new Error('Missing required PSK input');
  //   }
  //   return;
  // }
  async _keySchedule(mode, sharedSecret, params) {
    const pskId = params.psk === void 0 ? EMPTY : toUint8Array(params.psk.id);
    const pskIdHash = await this._kdf.labeledExtract(EMPTY, LABEL_PSK_ID_HASH, pskId);
    const info = params.info === void 0 ? EMPTY : toUint8Array(params.info);
    const infoHash = await this._kdf.labeledExtract(EMPTY, LABEL_INFO_HASH, info);
    const keyScheduleContext = new Uint8Array(1 + pskIdHash.byteLength + infoHash.byteLength);
    keyScheduleContext.set(new Uint8Array([mode]), 0);
    keyScheduleContext.set(new Uint8Array(pskIdHash), 1);
    keyScheduleContext.set(new Uint8Array(infoHash), 1 + pskIdHash.byteLength);
    const psk = params.psk === void 0 ? EMPTY : toUint8Array(params.psk.key);
    const ikm = this._kdf.buildLabeledIkm(LABEL_SECRET, psk);
    const exporterSecretInfo = this._kdf.buildLabeledInfo(LABEL_EXP, keyScheduleContext, this._kdf.hashSize);
    const exporterSecret = await this._kdf.extractAndExpand(sharedSecret, ikm, exporterSecretInfo, this._kdf.hashSize);
    if (this._aead.id === AeadId.ExportOnly) {
      return { aead: this._aead, exporterSecret };
    }
    const keyInfo = this._kdf.buildLabeledInfo(LABEL_KEY, keyScheduleContext, this._aead.keySize);
    const key = await this._kdf.extractAndExpand(sharedSecret, ikm, keyInfo, this._aead.keySize);
    const baseNonceInfo = this._kdf.buildLabeledInfo(LABEL_BASE_NONCE, keyScheduleContext, this._aead.nonceSize);
    const baseNonce = await this._kdf.extractAndExpand(sharedSecret, ikm, baseNonceInfo, this._aead.nonceSize);
    return {
      aead: this._aead,
      exporterSecret,
      key,
      baseNonce: new Uint8Array(baseNonce),
      seq: 0
    };
  }
  async _keyScheduleS(mode, sharedSecret, enc, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new SenderExporterContextImpl(this._api, this._kdf, res.exporterSecret, enc);
    }
    return new SenderContextImpl(this._api, this._kdf, res, enc);
  }
  async _keyScheduleR(mode, sharedSecret, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new RecipientExporterContextImpl(this._api, this._kdf, res.exporterSecret);
    }
    return new RecipientContextImpl(this._api, this._kdf, res);
  }
  _validateInputLength(params) {
    if (params.info !== void 0 && params.info.byteLength > INFO_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long info");
    }
    if (params.psk !== void 0) {
      if (params.psk.key.byteLength < MINIMUM_PSK_LENGTH) {
        throw new InvalidParamError(`PSK must have at least ${MINIMUM_PSK_LENGTH} bytes`);
      }
      if (params.psk.key.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.key");
      }
      if (params.psk.id.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.id");
      }
    }
    return;
  }
};

// node_modules/@hpke/core/esm/src/native.js
var CipherSuite = class extends CipherSuiteNative {
};
var HkdfSha256 = class extends HkdfSha256Native {
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x25519.js
var ALG_NAME = "X25519";
var PKCS8_ALG_ID_X25519 = new Uint8Array([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  110,
  4,
  34,
  4,
  32
]);
var BASE_POINT_X25519 = /* @__PURE__ */ (() => {
  const p = new Uint8Array(32);
  p[0] = 9;
  return p;
})();
var X25519 = class extends NativeAlgorithm {
  constructor(hkdf) {
    super();
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_alg", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nDh", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_pkcs8AlgId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._alg = { name: ALG_NAME };
    this._hkdf = hkdf;
    this._nPk = 32;
    this._nSk = 32;
    this._nDh = 32;
    this._pkcs8AlgId = PKCS8_ALG_ID_X25519;
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._api.exportKey("raw", key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      if (!("d" in jwk)) {
        throw new Error("Not private key");
      }
      return base64UrlToBytes(jwk["d"]).buffer;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    await this._setup();
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    await this._setup();
    try {
      return await this._api.generateKey(ALG_NAME, true, KEM_USAGES);
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const rawSk = await this._hkdf.labeledExpand(dkpPrk, LABEL_SK, EMPTY, this._nSk);
      const rawSkBytes = new Uint8Array(rawSk);
      const sk = await this._deserializePkcs8Key(rawSkBytes);
      rawSkBytes.fill(0);
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  async derivePublicKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      delete jwk["d"];
      delete jwk["key_ops"];
      return await this._api.importKey("jwk", jwk, this._alg, true, []);
    } catch {
      try {
        const bp = await this._api.importKey("raw", BASE_POINT_X25519.buffer, this._alg, true, []);
        const bits = await this._api.deriveBits({
          name: ALG_NAME,
          public: bp
        }, key, this._nPk * 8);
        return await this._api.importKey("raw", bits, this._alg, true, []);
      } catch (e) {
        throw new DeserializeError(e);
      }
    }
  }
  async dh(sk, pk) {
    await this._setup();
    try {
      const bits = await this._api.deriveBits({
        name: ALG_NAME,
        public: pk
      }, sk, this._nDh * 8);
      return bits;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async _importRawKey(key, isPublic) {
    if (isPublic && key.byteLength !== this._nPk) {
      throw new Error("Invalid public key for the ciphersuite");
    }
    if (!isPublic && key.byteLength !== this._nSk) {
      throw new Error("Invalid private key for the ciphersuite");
    }
    if (isPublic) {
      return await this._api.importKey("raw", key, this._alg, true, []);
    }
    return await this._deserializePkcs8Key(new Uint8Array(key));
  }
  async _importJWK(key, isPublic) {
    if (typeof key.kty === "undefined" || key.kty !== "OKP") {
      throw new Error(`Invalid kty: ${key.crv}`);
    }
    if (typeof key.crv === "undefined" || key.crv !== ALG_NAME) {
      throw new Error(`Invalid crv: ${key.crv}`);
    }
    if (isPublic) {
      if (typeof key.d !== "undefined") {
        throw new Error("Invalid key: `d` should not be set");
      }
      return await this._api.importKey("jwk", key, this._alg, true, []);
    }
    if (typeof key.d === "undefined") {
      throw new Error("Invalid key: `d` not found");
    }
    return await this._api.importKey("jwk", key, this._alg, true, KEM_USAGES);
  }
  async _deserializePkcs8Key(k) {
    const pkcs8Key = new Uint8Array(this._pkcs8AlgId.length + k.length);
    pkcs8Key.set(this._pkcs8AlgId, 0);
    pkcs8Key.set(k, this._pkcs8AlgId.length);
    return await this._api.importKey("pkcs8", pkcs8Key, this._alg, true, KEM_USAGES);
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemX25519.js
var DhkemX25519HkdfSha256 = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha256Native();
    super(KemId.DhkemX25519HkdfSha256, new X25519(kdf), kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemX25519HkdfSha256
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x448.js
var PKCS8_ALG_ID_X448 = new Uint8Array([
  48,
  70,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  111,
  4,
  58,
  4,
  56
]);

// src/sealing.ts
var KEM_KEY_SIZE = 32;
var VERSION_X25519_SHA256_AES256GCM = 1;
var ENC_SIZE = 32;
var TAG_SIZE = 16;
var SEALED_OVERHEAD = 1 + ENC_SIZE + TAG_SIZE;
var suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm()
});
async function generateRecipient() {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits"
  ]);
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyRaw };
}
async function seal(publicKeyRaw, plaintext, context2) {
  if (publicKeyRaw.length !== KEM_KEY_SIZE) {
    throw new Error(`an X25519 public key is ${KEM_KEY_SIZE} bytes`);
  }
  let recipientPublicKey;
  try {
    recipientPublicKey = await crypto.subtle.importKey(
      "raw",
      buffer(publicKeyRaw),
      { name: "X25519" },
      true,
      []
    );
  } catch {
    throw new Error("not an X25519 public key");
  }
  let sealed;
  try {
    sealed = await suite.seal({ recipientPublicKey, info: buffer(context2) }, buffer(plaintext));
  } catch {
    throw new Error("cannot seal to this X25519 public key (a low-order point?)");
  }
  return concat(
    Uint8Array.of(VERSION_X25519_SHA256_AES256GCM),
    new Uint8Array(sealed.enc),
    new Uint8Array(sealed.ct)
  );
}
async function openSealed(recipient, sealed, context2) {
  const failure = new Error("sealed message could not be opened (wrong key, context or tampered)");
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== VERSION_X25519_SHA256_AES256GCM) {
    throw failure;
  }
  try {
    const recipientKey = recipient instanceof CryptoKey ? { privateKey: recipient, publicKey: await derivePublicKey(recipient) } : { privateKey: recipient.privateKey, publicKey: recipient.publicKey };
    const plaintext = await suite.open(
      { recipientKey, enc: buffer(sealed.subarray(1, 1 + ENC_SIZE)), info: buffer(context2) },
      buffer(sealed.subarray(1 + ENC_SIZE))
    );
    return new Uint8Array(plaintext);
  } catch {
    throw failure;
  }
}
async function derivePublicKey(privateKey) {
  const basePoint = new Uint8Array(KEM_KEY_SIZE);
  basePoint[0] = 9;
  const base = await crypto.subtle.importKey("raw", buffer(basePoint), { name: "X25519" }, true, []);
  const raw = await crypto.subtle.deriveBits(
    { name: "X25519", public: base },
    privateKey,
    KEM_KEY_SIZE * 8
  );
  return crypto.subtle.importKey("raw", raw, { name: "X25519" }, true, []);
}
function datasetKeyContext(roomId, nodeId, datasetId) {
  return context("sealroom/dataset-key/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId
  });
}
function resultContext(roomId, jobId, resultFormat) {
  return context("sealroom/job-result/v2", {
    room_id: roomId,
    job_id: jobId,
    result_format: resultFormat
  });
}
function statisticsContext(roomId, nodeId, datasetId) {
  return context("sealroom/dataset-statistics/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId
  });
}
function context(purpose, fields) {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== "string" || value === "") {
      throw new Error(`sealing context field '${name}' must be a non-empty string`);
    }
  }
  return canonicalJson({ purpose, ...fields });
}

// src/signed.ts
var HEX642 = /^[0-9a-f]{64}$/;
function roomSignatureMessage(roomId, definitionText) {
  return concat(utf8("sealroom/room-definition/v1"), utf8(roomId), utf8(definitionText));
}
async function initialHistoryPin(roomId) {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), utf8(roomId)));
}
async function nextHistoryPin(pin, commitId) {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), fromHex(pin), fromHex(commitId)));
}
function commitRecordMessage(roomId, sequence, commitText, pinAfter) {
  return concat(
    utf8("sealroom/room-commit/v1"),
    utf8(`${roomId}/${sequence}/${pinAfter}/`),
    utf8(commitText)
  );
}
async function verifyDefinition(roomId, definitionText, signatureHex, verifyKey) {
  checkRoomId(roomId);
  if (await sha256Hex(utf8(definitionText)) !== roomId) {
    throw new VerificationError(`the definition served for room ${roomId} does not match its id`);
  }
  const signature = strictHex(signatureHex, 64, `room ${roomId}: the definition's signature`);
  if (!await ed25519Verify(verifyKey, signature, roomSignatureMessage(roomId, definitionText))) {
    throw new VerificationError(`room ${roomId}: the definition is not signed by the core`);
  }
  const definition = JSON.parse(definitionText);
  if (!isObject(definition)) throw new VerificationError(`room ${roomId}: the definition is not a JSON object`);
  return definition;
}
async function verifyHistory(roomId, commits, verifyKey) {
  const pins = [await initialHistoryPin(roomId)];
  const verified = [];
  for (const [index, entry] of commits.entries()) {
    const sequence = index + 1;
    const altered2 = new VerificationError(`room ${roomId}: commit ${sequence} was altered`);
    let commit;
    try {
      commit = JSON.parse(entry.commit);
    } catch {
      throw altered2;
    }
    if (!isObject(commit) || commit["room_id"] !== roomId || commit["history_pin"] !== pins.at(-1)) throw altered2;
    const commitId = await sha256Hex(utf8(entry.commit));
    const pin = await nextHistoryPin(pins.at(-1), commitId);
    let signature;
    try {
      signature = strictHex(entry.signature, 64, "signature");
    } catch {
      throw altered2;
    }
    if (!await ed25519Verify(verifyKey, signature, commitRecordMessage(roomId, sequence, entry.commit, pin))) {
      throw altered2;
    }
    verified.push(Object.freeze({ text: entry.commit, commit, commitId, sequence, pinAfter: pin }));
    pins.push(pin);
  }
  return { commits: verified, pins };
}
async function verifyRoomState(roomId, stateText, signatureHex, verifyKey, minVersion = 0) {
  const malformed = new VerificationError(`room ${roomId}: the signed state is malformed`);
  let signature;
  try {
    signature = strictHex(signatureHex, 64, "signature");
  } catch {
    signature = new Uint8Array(0);
  }
  const canonical = utf8(stateText);
  if (!await ed25519Verify(verifyKey, signature, concat(utf8("sealroom/room-state/v1"), canonical))) {
    throw new VerificationError(`room ${roomId}: the state is not signed by the core`);
  }
  let body;
  try {
    body = JSON.parse(stateText);
  } catch {
    throw new VerificationError(`room ${roomId}: the signed state is not JSON`);
  }
  const fields = ["room_id", "version", "status", "datasets", "history_pin"];
  if (!isObject(body) || Object.keys(body).length !== fields.length || !fields.every((f) => f in body)) {
    throw malformed;
  }
  const { datasets: datasets2, version, status } = body;
  const pin = body["history_pin"];
  if (!isObject(datasets2) || !Object.values(datasets2).every((v) => typeof v === "string") || !isSafeInt(version) || status !== "active" && status !== "stopped" || typeof pin !== "string" || !HEX642.test(pin) || typeof body["room_id"] !== "string") {
    throw malformed;
  }
  const state = Object.freeze({
    room_id: body["room_id"],
    version,
    status,
    datasets: Object.freeze({ ...datasets2 }),
    history_pin: pin
  });
  if (state.room_id !== roomId) throw new VerificationError(`room ${roomId}: the server sent the state of another room`);
  let recoded;
  try {
    recoded = canonicalJson({ ...state, datasets: { ...state.datasets } });
  } catch {
    throw malformed;
  }
  if (toHex(recoded) !== toHex(canonical)) throw new VerificationError(`room ${roomId}: the signed state is not canonical`);
  if (state.version < minVersion) {
    throw new VerificationError(
      `room ${roomId}: the server sent state version ${state.version}, older than version ${minVersion} you saw before (rolled back)`
    );
  }
  return state;
}
function roomCounter(memory, roomId, verifyKey, name) {
  const record = recordForKey(memory, memoryKeys.roomVersion(roomId), roomId, verifyKey);
  const value = record?.[name];
  return isSafeInt(value) ? value : 0;
}
function saveRoomVersion(memory, roomId, verifyKey, version, commits = 0) {
  const known = [roomCounter(memory, roomId, verifyKey, "version"), roomCounter(memory, roomId, verifyKey, "commits")];
  const wanted = [Math.max(version, known[0]), Math.max(commits, known[1])];
  if (wanted[0] === known[0] && wanted[1] === known[1]) return;
  writeRecord(memory, memoryKeys.roomVersion(roomId), {
    core_public_key: toHex(verifyKey),
    version: wanted[0],
    commits: wanted[1]
  });
}
async function retrieveRoomState(roomId, source, core, memory = defaultMemory()) {
  const fetcher = asFetcher(source);
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/state`);
  if (!isObject(body) || typeof body["state"] !== "string" || typeof body["signature"] !== "string") {
    throw new VerificationError(`the server sent a malformed state of room ${roomId}`);
  }
  const state = await verifyRoomState(
    roomId,
    body["state"],
    body["signature"],
    core.verifyKey,
    roomCounter(memory, roomId, core.verifyKey, "version")
  );
  saveRoomVersion(memory, roomId, core.verifyKey, state.version);
  return state;
}
async function verifyRoom(roomId, source, core, memory = defaultMemory()) {
  const fetcher = asFetcher(source);
  checkRoomId(roomId);
  for (let attempt = 0; ; attempt++) {
    checkRoomPin(roomId, core, memory);
    const body = await fetcher.json(`/v1/rooms/${roomId}`);
    if (!isObject(body) || typeof body["definition"] !== "string" || typeof body["signature"] !== "string" || !Array.isArray(body["commits"]) || !body["commits"].every(
      (c) => isObject(c) && typeof c["commit"] === "string" && typeof c["signature"] === "string"
    )) {
      throw new VerificationError(`the server sent a malformed definition of room ${roomId}`);
    }
    const definitionText = body["definition"];
    const definition = await verifyDefinition(roomId, definitionText, body["signature"], core.verifyKey);
    const { commits, pins } = await verifyHistory(
      roomId,
      body["commits"],
      core.verifyKey
    );
    const state = await retrieveRoomState(roomId, fetcher, core, memory);
    if (state.history_pin !== pins.at(-1)) {
      if (attempt === 1 || pins.includes(state.history_pin)) {
        throw new VerificationError(
          `room ${roomId}: the server sent ${commits.length} commit(s), but the core's signed state names another history (commits were dropped: rolled back)`
        );
      }
      continue;
    }
    const seen = roomCounter(memory, roomId, core.verifyKey, "commits");
    if (commits.length < seen) {
      throw new VerificationError(
        `room ${roomId}: the server sent ${commits.length} commit(s), fewer than the ${seen} this browser saw before (rolled back)`
      );
    }
    saveRoomVersion(memory, roomId, core.verifyKey, state.version, commits.length);
    const created = body["created_at_ms"];
    return Object.freeze({
      roomId,
      definition,
      definitionText,
      commits,
      historyPin: pins.at(-1),
      state,
      status: state.status,
      createdAtMs: isSafeInt(created) ? created : null
    });
  }
}
async function resultReleaseOf(facts, sealed) {
  return { ...facts, sealedSha256: toHex(await sha256(sealed)) };
}
function resultReleaseCanonical(release) {
  return canonicalJson({
    room_id: release.roomId,
    node: release.node,
    job_id: release.jobId,
    parameters: { ...release.parameters },
    recipient_public_key: release.recipientPublicKey,
    format: release.format,
    sealed_sha256: release.sealedSha256
  });
}
async function verifyResultRelease(expected, signature, verifyKey) {
  const message = concat(utf8("sealroom/result-release/v1"), resultReleaseCanonical(expected));
  if (!await ed25519Verify(verifyKey, signature, message)) {
    throw new VerificationError(
      `the result of job ${expected.jobId} is not the core's release of it to your key (the server altered the result or re-sealed it, or replaced your key; check the room's audit log for the key the job was submitted with)`
    );
  }
}
async function verifyStatisticsRelease(expected, signature, verifyKey) {
  const message = concat(
    utf8("sealroom/statistics-release/v1"),
    canonicalJson({
      room_id: expected.roomId,
      node: expected.node,
      dataset_id: expected.datasetId,
      recipient_public_key: expected.recipientPublicKey,
      sealed_sha256: expected.sealedSha256
    })
  );
  if (!await ed25519Verify(verifyKey, signature, message)) {
    throw new VerificationError(
      `the statistics of node '${expected.node}' are not the core's release of them to your key (the server altered or made them up)`
    );
  }
}

// src/results.ts
var DEFAULT_FORMATS = /* @__PURE__ */ new Set(["csv", "zip"]);
function releasedFormat(requested, header) {
  if (requested) return requested;
  return header !== void 0 && DEFAULT_FORMATS.has(header) ? header : null;
}
async function openResult(result) {
  const format = releasedFormat(result.format, result.formatHeader);
  if (format === null) throw new VerificationError(`job ${result.jobId}: the server did not say the result's format`);
  let signature;
  try {
    signature = fromHex(result.signatureHex);
  } catch {
    signature = new Uint8Array(0);
  }
  const release = await resultReleaseOf(
    {
      roomId: result.roomId,
      node: result.node,
      jobId: result.jobId,
      parameters: { ...result.parameters ?? {} },
      recipientPublicKey: toHex(result.recipient.publicKeyRaw),
      format
    },
    result.sealed
  );
  await verifyResultRelease(release, signature, result.core.verifyKey);
  return openSealed(result.recipient, result.sealed, resultContext(result.roomId, result.jobId, format));
}
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
  let i = text.startsWith("\uFEFF") ? 1 : 0;
  let quoted = false;
  let fieldStarted = false;
  const n = text.length;
  const endField = () => {
    record.push(field);
    field = "";
    fieldStarted = false;
  };
  const endRecord = () => {
    const blank = record.length === 0 && field === "" && !fieldStarted;
    endField();
    if (!blank) records.push(record);
    record = [];
  };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const next = text[i];
        if (next !== void 0 && next !== "," && next !== "\n" && next !== "\r") {
          throw new Error(`CSV record ${records.length + 1}: characters after a closing quote`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && fieldStarted) {
      field += c;
      i++;
    } else if (c === '"') {
      quoted = true;
      fieldStarted = true;
      i++;
    } else if (c === ",") {
      endField();
      i++;
    } else if (c === "\r" || c === "\n") {
      endRecord();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += c;
      fieldStarted = true;
      i++;
    }
  }
  if (quoted) throw new Error(`CSV record ${records.length + 1}: a quoted field is not closed`);
  if (fieldStarted || field !== "" || record.length > 0) endRecord();
  if (records.length === 0) return { columns: [], rows: [] };
  const [columns, ...rows] = records;
  rows.forEach((row, index) => {
    if (row.length !== columns.length) {
      throw new Error(`CSV record ${index + 2}: ${row.length} fields, the header has ${columns.length}`);
    }
  });
  return { columns, rows };
}

// src/requests.ts
function sameEmail(a, b) {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
function nodeNamed(definition, name) {
  return definition.nodes.find((node) => node.name.toLowerCase() === name.toLowerCase());
}
function availableData(definition, email) {
  const me = definition.participants.find((p) => sameEmail(p.email, email));
  if (!me) return [];
  const grants = me.permissions ?? [];
  const owns = (name) => me.data_owner_of.includes(name) || grants.some((g) => g.kind === "leaf_crud" && g.node === name);
  const reads = (name) => me.analyst_of.includes(name) || grants.some((g) => g.kind === "retrieve_compute_result" && g.node === name);
  const found = [];
  for (const node of definition.nodes) {
    if (DATA_KINDS.has(node.kind)) {
      if (owns(node.name)) found.push({ node, role: "owner" });
    } else if (node.kind !== "preview" && reads(node.name)) {
      found.push({ node, role: "analyst" });
    }
  }
  return found;
}
function withCommit(definition, commit) {
  const applied = structuredClone(definition);
  applied.identities ??= [];
  applied.nodes.push(...structuredClone(commit.nodes));
  for (const withdrawal of commit.withdrawals ?? []) {
    const index = applied.participants.findIndex((p2) => sameEmail(p2.email, withdrawal.email));
    if (index < 0) continue;
    const p = applied.participants[index];
    p.analyst_of = p.analyst_of.filter((n) => !(withdrawal.analyst_of ?? []).includes(n));
    p.data_owner_of = p.data_owner_of.filter((n) => !(withdrawal.data_owner_of ?? []).includes(n));
    if (p.analyst_of.length || p.data_owner_of.length || (p.permissions ?? []).length) continue;
    applied.participants.splice(index, 1);
    if (!sameEmail(withdrawal.email, applied.owner)) {
      applied.identities = applied.identities.filter((i) => !sameEmail(i.email, withdrawal.email));
    }
  }
  const grant = (email, roles, names, key, root) => {
    const participant = applied.participants.find((p) => sameEmail(p.email, email));
    if (participant) {
      for (const name of names) if (!participant[roles].includes(name)) participant[roles].push(name);
      return;
    }
    applied.participants.push({ email, data_owner_of: [], analyst_of: [], permissions: [], [roles]: [...names] });
    if (key != null || root != null) applied.identities.push({ email, key: key ?? null, root: root ?? null });
  };
  for (const g of commit.analysts) grant(g.email, "analyst_of", g.analyst_of, g.key, g.root);
  for (const g of commit.owners ?? []) grant(g.email, "data_owner_of", g.data_owner_of, g.key, g.root);
  return applied;
}
function affectedDataNodes(applied, commit) {
  const granted = commit.nodes.map((node) => node.name);
  for (const grant of commit.analysts) for (const name of grant.analyst_of) if (!granted.includes(name)) granted.push(name);
  const withdrawn = [];
  for (const w of commit.withdrawals ?? []) for (const name of w.analyst_of ?? []) if (!withdrawn.includes(name)) withdrawn.push(name);
  granted.push(...withdrawn);
  const affected = [];
  for (const name of granted) {
    const plan = [];
    const seen = /* @__PURE__ */ new Set();
    const visit = (target) => {
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
function approverGroups(applied, commit) {
  if (commit.identities.length) {
    throw new VerificationError("this request changes how the room recognises a participant: review it with the SDK or the CLI");
  }
  const emails = applied.participants.map((p) => p.email);
  if (!emails.some((email) => sameEmail(email, applied.owner))) emails.unshift(applied.owner);
  const names = affectedDataNodes(applied, commit);
  const changes = [...commit.owners ?? [], ...commit.withdrawals ?? []];
  for (const change of changes) {
    for (const changed3 of change.data_owner_of ?? []) {
      const node = nodeNamed(applied, changed3);
      if (node && !names.includes(node.name)) names.push(node.name);
    }
  }
  const groups = [];
  for (const name of names) {
    const isNew = (email) => (commit.owners ?? []).some((g) => sameEmail(g.email, email) && g.data_owner_of.includes(name));
    const approvers = emails.filter((email) => {
      const p = applied.participants.find((q) => sameEmail(q.email, email));
      if (!p || isNew(email)) return false;
      const grants = p.permissions ?? [];
      return p.data_owner_of.includes(name) || grants.some((g) => g.kind === "leaf_crud" && g.node === name);
    });
    if (approvers.length) groups.push({ node: name, approvers });
  }
  return groups;
}
function sameGroups(a, b) {
  const key = (groups) => JSON.stringify(groups.map((g) => [g.node, g.approvers.map((e) => e.toLowerCase()).sort()]).sort());
  return key(a) === key(b);
}
function optionalList(value, check) {
  return value === void 0 || Array.isArray(value) && value.every((item) => isObject(item) && check(item));
}
function parseCommitText(text, what) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new VerificationError(`${what}: the server sent a commit that is not JSON`);
  }
  if (!isObject(parsed) || typeof parsed["room_id"] !== "string" || typeof parsed["history_pin"] !== "string" || typeof parsed["requester"] !== "string" || typeof parsed["note"] !== "string" || !Array.isArray(parsed["nodes"]) || !parsed["nodes"].every((n) => isObject(n) && typeof n["name"] === "string" && typeof n["kind"] === "string") || !Array.isArray(parsed["analysts"]) || !parsed["analysts"].every((a) => isObject(a) && typeof a["email"] === "string" && Array.isArray(a["analyst_of"])) || !Array.isArray(parsed["identities"]) || !optionalList(parsed["owners"], (o) => typeof o["email"] === "string" && Array.isArray(o["data_owner_of"])) || !optionalList(parsed["withdrawals"], (w) => typeof w["email"] === "string" && Array.isArray(w["data_owner_of"] ?? []) && Array.isArray(w["analyst_of"] ?? []))) {
    throw new VerificationError(`${what}: the server sent a malformed commit`);
  }
  return parsed;
}
var NODE_DEFAULTS = {
  sql: {
    minimum_rows_count: null,
    dp_epsilon: null,
    dp_delta: 1e-6,
    dp_max_rows_per_unit: 1,
    dp_bounds: [],
    parameters: [],
    rate_limit: null
  },
  python: {
    additional_files: [],
    enable_logs_on_error: false,
    enable_logs_on_success: false,
    output: "/output",
    parameters: [],
    rate_limit: null
  },
  r: {
    additional_files: [],
    enable_logs_on_error: false,
    enable_logs_on_success: false,
    output: "/output",
    parameters: [],
    rate_limit: null
  }
};
function sameJson(a, b) {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return a === b;
}
async function draftRequest(session, room, input) {
  const draft = await sendJson(
    `/v1/rooms/${room.roomId}/commit-drafts`,
    {
      json: {
        note: input.note,
        computations: input.computations.map((c) => ({
          kind: c.kind,
          name: c.name,
          code: c.code,
          dependencies: c.dependencies,
          minimum_rows_count: c.minimumRowsCount
        })),
        analysts: input.analysts,
        owners: input.owners ?? {},
        withdrawals: input.withdrawals ?? {}
      }
    }
  );
  return checkDraft(session.email, room, input, draft.commit, draft.approver_groups);
}
async function checkDraft(email, room, input, text, hostGroups) {
  const what = "the request the server drafted";
  const commit = parseCommitText(text, what);
  const refuse = (why) => {
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
    const asked = input.computations[index];
    const { kind, name, dependencies, ...rest } = node;
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
  const recognised = /* @__PURE__ */ new Set();
  const recognition = (email2) => {
    const person = email2.trim().toLowerCase();
    const inRoom = sameEmail(room.definition.owner, email2) || room.definition.participants.some((p) => sameEmail(p.email, email2));
    if (inRoom || recognised.has(person)) return null;
    recognised.add(person);
    const roots = Array.isArray(room.definition["trust_roots"]) ? room.definition["trust_roots"] : [];
    const platform = roots.find((r) => r.operator === true);
    if (!platform || typeof platform.name !== "string") refuse(`${email2} is new to the room, which does not trust the platform's CA`);
    return platform.name;
  };
  const checkGrants = (word, got, asked) => {
    const grants = Object.entries(asked).filter(([, names]) => names.length);
    if (got.length !== grants.length) refuse(`other ${word}`);
    got.forEach((grant, index) => {
      const [askedEmail, names] = grants[index];
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
    const [askedEmail, roles] = withdrawals[index];
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
async function submitDraft(session, room, draft) {
  const call2 = { roomId: room.roomId, action: "submit_request", arguments: { commit: draft.requestId } };
  const body = await sendJson(`/v1/rooms/${room.roomId}/requests`, {
    method: "POST",
    jsonText: `{"commit":${draft.text}}`,
    proof: await session.prove(call2, room)
  });
  if (body.id !== draft.requestId) throw new VerificationError("the server stored another request than the one submitted");
  return verifyRequest(room, body);
}
async function verifyRequest(room, data) {
  const what = `request ${String(data.id).slice(0, 12)}`;
  const { commit: text } = await getJson(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(data.id)}/commit`);
  if (await sha256Hex(utf8(text)) !== data.id) {
    throw new VerificationError(`the server showed ${what} with a commit that is not that request's: do not approve it`);
  }
  const commit = parseCommitText(text, what);
  if (!sameJson(JSON.parse(text), data.commit)) throw altered(what, "a commit");
  if (commit.room_id !== room.roomId || data.room_id !== room.roomId) throw altered(what, "another room");
  if (data.note !== commit.note) throw altered(what, "a note");
  if (data.history_pin !== commit.history_pin) throw altered(what, "a history pin");
  if (!sameEmail(data.requester, commit.requester)) throw altered(what, "a requester");
  let groups = null;
  if (commit.history_pin === room.historyPin) groups = approverGroups(withCommit(room.definition, commit), commit);
  if (groups !== null && !sameGroups(groups, data.approver_groups)) throw altered(what, "approver groups");
  return { data, commit, text, groups };
}
function altered(what, field) {
  return new VerificationError(`the server showed ${what} with ${field} that its commit does not have: do not act on it`);
}
async function listRequests(room) {
  const listed = await getJson(`/v1/rooms/${room.roomId}/requests`);
  return Promise.all(listed.map((data) => verifyRequest(room, data)));
}
async function actOnRequest(session, room, requestId, action2, reason = "") {
  const call2 = action2 === "approve" ? approveRequest(room.roomId, requestId) : action2 === "reject" ? rejectRequest(room.roomId, requestId, reason) : integrateRequest(room.roomId, requestId);
  const body = await sendJson(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(requestId)}/${action2}`, {
    method: "POST",
    json: action2 === "reject" ? { reason } : {},
    proof: await session.prove(call2, room)
  });
  if (body.id !== requestId) throw new VerificationError(`the server answered for request ${requestId} with another`);
  return verifyRequest(room, body);
}
async function runDevelopment2(session, room, node, parameters = {}) {
  const recipient = await generateRecipient();
  const nodeJson = node;
  const call2 = await runDevelopment(room.roomId, nodeJson, parameters, recipient.publicKeyRaw);
  const job = await sendJson(`/v1/rooms/${room.roomId}/development-jobs`, {
    method: "POST",
    json: { node, parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
    proof: await session.prove(call2, room)
  });
  return { jobId: job.job_id, roomId: room.roomId, node: node.name, parameters, recipient };
}
async function previewRequest2(session, room, view, parameters = {}) {
  const last = view.commit.nodes.at(-1);
  if (!last) throw new Error("the request adds no computation to preview");
  const recipient = await generateRecipient();
  const call2 = previewRequest(room.roomId, view.data.id, parameters, recipient.publicKeyRaw);
  const job = await sendJson(`/v1/rooms/${room.roomId}/requests/${encodeURIComponent(view.data.id)}/preview`, {
    method: "POST",
    json: { parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
    proof: await session.prove(call2, room)
  });
  return { jobId: job.job_id, roomId: room.roomId, node: last.name, parameters, recipient };
}
async function scriptResult(session, job, room, onStatus) {
  await waitFor(job, onStatus);
  const format = "zip";
  const call2 = retrieveResult(job.roomId, job.jobId, job.recipient.publicKeyRaw, format);
  const response = await request(`/v1/jobs/${job.jobId}/result`, {
    method: "POST",
    json: { recipient_public_key: toHex(job.recipient.publicKeyRaw), format },
    proof: await session.prove(call2, room)
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
    formatHeader: response.headers.get("Sealroom-Result-Format") ?? ""
  });
  return { files: await readZip(plaintext) };
}
async function waitFor(job, onStatus) {
  for (; ; ) {
    const status = await getJson(`/v1/jobs/${job.jobId}`, { wait: "20" });
    onStatus?.(status.status);
    if (status.status === "failed") throw new Error(status.error_message ?? "the computation failed");
    if (status.status === "succeeded") return;
  }
}
function tablesOf(result) {
  const tables = /* @__PURE__ */ new Map();
  for (const [name, data] of result.files) {
    if (!name.toLowerCase().endsWith(".csv")) continue;
    try {
      tables.set(name, parseCsv(fromUtf8(data)));
    } catch {
    }
  }
  return tables;
}
var MAX_ZIP_ENTRIES = 1e4;
async function readZip(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const files = /* @__PURE__ */ new Map();
  if (data.length === 0) return files;
  let end = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 101010256) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("the result is not a zip archive");
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (count > MAX_ZIP_ENTRIES) throw new Error("the result's archive has too many entries");
  for (let entry = 0; entry < count; entry++) {
    if (offset + 46 > data.length || view.getUint32(offset, true) !== 33639248) throw new Error("a malformed zip archive");
    const method = view.getUint16(offset + 10, true);
    const compressed = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const local = view.getUint32(offset + 42, true);
    const name = fromUtf8(data.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/")) continue;
    if (local + 30 > data.length || view.getUint32(local, true) !== 67324752) throw new Error("a malformed zip archive");
    const start2 = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start2 + compressed > data.length) throw new Error("a malformed zip archive");
    const raw = data.subarray(start2, start2 + compressed);
    if (method === 0) files.set(name, raw.slice());
    else if (method === 8) files.set(name, await inflate(raw));
    else throw new Error(`the result's archive uses compression method ${method}`);
  }
  return files;
}
async function inflate(raw) {
  const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// src/session.ts
async function attestCore() {
  const fetcher = makeFetcher(authHeaders());
  const specs = parseSpecifications(await fetcher.json("/web/enclave-specifications.json"));
  return attest(fetcher, specs);
}
async function pinRoom(roomId, core) {
  checkRoomPin(roomId, core);
}
function applyCommits(room) {
  let definition = structuredClone(room.definition);
  definition.identities ??= [];
  for (const { commit } of room.commits) {
    definition = withCommit(definition, commit);
    for (const identity of commit["identities"] ?? []) {
      const list = definition.identities;
      const index = list.findIndex((known) => sameEmail(known.email, identity.email));
      if (index >= 0) list[index] = identity;
    }
  }
  return definition;
}
var opened = null;
var WebSession = class _WebSession {
  constructor(email, core, signer) {
    this.email = email;
    this.core = core;
    this.signer = signer;
  }
  email;
  core;
  signer;
  rooms = /* @__PURE__ */ new Map();
  /** The page's session: the core attested (once per page), the user's key ready. */
  static open() {
    opened ??= (async () => {
      if (!window.isSecureContext || !crypto.subtle) {
        throw new Error(
          "this page is not a secure context, so the browser cannot encrypt: open the app on 127.0.0.1, or serve it over HTTPS (sealroom serve --tls-cert/--tls-key, or a reverse proxy)"
        );
      }
      const email = document.querySelector('meta[name="sealroom-user"]')?.content ?? "";
      const core = await attestCore();
      showAttestation(core);
      return new _WebSession(email, core, await signerFor(email));
    })();
    return opened;
  }
  /** The room's current definition, verified: hashes to the id, signed by the attested core. */
  room(roomId, fresh = false) {
    if (fresh || !this.rooms.has(roomId)) {
      this.rooms.set(roomId, (async () => {
        await pinRoom(roomId, this.core);
        const signed = await verifyRoom(roomId, makeFetcher(authHeaders()), this.core);
        return { ...signed, published: signed.definition, definition: applyCommits(signed) };
      })());
    }
    return this.rooms.get(roomId);
  }
  async prove(call2, room) {
    return this.signer.prove(call2, room?.definition);
  }
  // -- rooms -------------------------------------------------------------------------------
  /** Publish the canonical definition text (already checked by the caller) as it is. */
  async publishRoom(definitionText, roomId) {
    const proof = await this.signer.prove(publishRoom(roomId), JSON.parse(definitionText));
    const published = await sendJson("/v1/rooms", {
      method: "POST",
      jsonText: `{"definition":${definitionText}}`,
      proof
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
  async publishDataset(roomId, node, datasetId, key, replacePassing = false, replaces) {
    await pinRoom(roomId, this.core);
    const sealed = await seal(this.core.kemPublicKey, key, datasetKeyContext(roomId, node, datasetId));
    const call2 = publishDataset(roomId, node, datasetId, sealed, replacePassing, replaces);
    const room = await this.room(roomId);
    const condition = replaces === void 0 ? {} : { replaces };
    return sendJson(`/v1/rooms/${roomId}/nodes/${node}/dataset`, {
      method: "PUT",
      json: { dataset_id: datasetId, sealed_key: toBase64(sealed), replace_passing: replacePassing, ...condition },
      proof: await this.prove(call2, room)
    });
  }
  async validationReport(roomId, node) {
    const room = await this.room(roomId);
    const call2 = retrieveValidationReport(roomId, node);
    return await (await request(`/v1/rooms/${roomId}/nodes/${node}/validation-report`, {
      proof: await this.prove(call2, room)
    })).json();
  }
  /** The dataset's summary statistics, sealed by the core to a key made here for them, checked
   * against the core's signature, opened here (the host relays them unread). */
  async statistics(roomId, node) {
    const room = await this.room(roomId);
    const recipient = await generateRecipient();
    const call2 = retrieveDatasetStatistics(roomId, node, recipient.publicKeyRaw);
    const answer = await sendJson(
      `/v1/rooms/${roomId}/nodes/${node}/statistics`,
      { method: "POST", json: { recipient_public_key: toHex(recipient.publicKeyRaw) }, proof: await this.prove(call2, room) }
    );
    const sealed = fromBase64(answer.sealed);
    await pinRoom(roomId, this.core);
    await verifyStatisticsRelease(
      { roomId, node, datasetId: answer.dataset_id, recipientPublicKey: toHex(recipient.publicKeyRaw), sealedSha256: await sha256Hex(sealed) },
      fromHex(answer.signature),
      this.core.verifyKey
    );
    const plain = await openSealed(recipient, sealed, statisticsContext(roomId, node, answer.dataset_id));
    return { ...JSON.parse(fromUtf8(plain)), dataset_id: answer.dataset_id };
  }
  /** Share (or stop sharing) one dataset's statistics with the room's participants. */
  async shareStatistics(roomId, node, datasetId, shared) {
    const room = await this.room(roomId);
    await sendJson(`/v1/rooms/${roomId}/nodes/${node}/statistics/sharing`, {
      method: "PUT",
      json: { dataset_id: datasetId, shared },
      proof: await this.prove(shareDatasetStatistics(roomId, node, datasetId, shared), room)
    });
  }
  // -- computations ------------------------------------------------------------------------
  async run(roomId, node, parameters = {}) {
    const room = await this.room(roomId);
    const recipient = await generateRecipient();
    const call2 = runComputation(roomId, node, parameters, recipient.publicKeyRaw);
    const job = await sendJson(`/v1/rooms/${roomId}/nodes/${node}/jobs`, {
      method: "POST",
      json: { parameters, recipient_public_key: toHex(recipient.publicKeyRaw) },
      proof: await this.prove(call2, room)
    });
    return { jobId: job.job_id, roomId, node, parameters, recipient };
  }
  /** Wait for the job (long polls), then fetch, verify and open its result in this browser. */
  async result(job, onStatus) {
    const csv = new TextDecoder("utf-8", { fatal: true }).decode(await this.resultBytes(job, "csv", onStatus));
    return { table: parseCsv(csv), csv };
  }
  /** The job's result in `format` ("csv" or "arrow" for SQL, "zip" for a script), verified and
   * opened in this browser, as bytes. */
  async resultBytes(job, format, onStatus) {
    const room = await this.room(job.roomId);
    for (; ; ) {
      const status = await getJson(
        `/v1/jobs/${job.jobId}`,
        { wait: "20" }
      );
      onStatus?.(status.status);
      if (status.status === "failed") throw new Error(status.error_message ?? "the computation failed");
      if (status.status === "succeeded") break;
    }
    const call2 = retrieveResult(job.roomId, job.jobId, job.recipient.publicKeyRaw, format);
    const response = await request(`/v1/jobs/${job.jobId}/result`, {
      method: "POST",
      json: { recipient_public_key: toHex(job.recipient.publicKeyRaw), format },
      proof: await this.prove(call2, room)
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
      formatHeader: response.headers.get("Sealroom-Result-Format") ?? ""
    });
  }
};
async function signerFor(email) {
  try {
    return await participantSigner(email);
  } catch (error) {
    if (!(error instanceof NoKeyError)) throw error;
    const { backupPem } = await createKey(email);
    document.getElementById("banners")?.append(backupNotice(email, backupPem));
    return participantSigner(email);
  }
}
function showAttestation(core) {
  const banners = document.getElementById("banners");
  if (!banners || banners.querySelector("[data-attestation]")) return;
  banners.append(
    core.simulated ? h(
      "div",
      { class: "banner simulated", "data-attestation": "simulated" },
      "Attestation is SIMULATED: no confidential-computing hardware protects this server's core. ",
      "This browser verified the evidence, but simulated evidence could be forged by the operator."
    ) : h(
      "div",
      { class: "banner", "data-attestation": "verified" },
      `The core's attestation was verified in this browser (${core.provider}).`
    )
  );
}

// src/upload.ts
function encryptAndUpload(file, options) {
  const worker = new Worker(options.workerUrl ?? "/static/js/worker.js", { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === "progress") {
        options.onProgress?.(message.done, message.total);
      } else if (message.type === "done") {
        worker.terminate();
        resolve({
          datasetId: message.datasetId,
          key: message.key,
          manifest: message.manifest,
          size: message.size
        });
      } else {
        worker.terminate();
        reject(new Error(message.message));
      }
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || "the encryption worker failed to start"));
    };
    const start2 = {
      type: "start",
      file,
      headers: options.headers,
      name: options.name ?? (file instanceof File && file.name ? file.name : "dataset"),
      ...options.chunkSize === void 0 ? {} : { chunkSize: options.chunkSize },
      ...options.description === void 0 ? {} : { description: options.description },
      ...options.reshape === void 0 ? {} : { reshape: options.reshape }
    };
    worker.postMessage(start2);
  });
}

// src/pages/actions.ts
async function mount2(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const me = room.definition.participants.find((p) => sameEmail2(p.email, session.email));
    const owned = room.definition.nodes.filter((n) => DATA_KINDS.has(n.kind) && me?.data_owner_of.includes(n.name));
    const analysed = room.definition.nodes.filter((n) => !DATA_KINDS.has(n.kind) && me?.analyst_of.includes(n.name));
    const published = await getJson(`/v1/rooms/${roomId}/datasets`);
    replace(
      section,
      h("h2", {}, "Datasets you provide"),
      owned.length ? h("div", {}, ...owned.map((node) => datasetCard(session, roomId, node, published))) : h("p", { class: "muted" }, "You are data owner of no dataset of this room."),
      h("h2", {}, "Computations you can run"),
      analysed.length ? h("div", {}, ...analysed.map((node) => computationCard(session, roomId, node))) : h("p", { class: "muted" }, "You are analyst of no computation of this room.")
    );
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
function sameEmail2(a, b) {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
function datasetCard(session, roomId, node, published) {
  const current = published.find((p) => p.node === node.name);
  const status = h("p", { "data-status": "" }, current ? `Provisioned: dataset ${current.dataset_id.slice(0, 12)}… by ${current.publisher}` + (current.validation ? ` — validation ${current.validation}` : "") : "Not provisioned yet.");
  const body = h("div", { class: "wizard" });
  const start2 = h("button", { type: "button" }, current ? "Provision again" : "Provision dataset");
  start2.addEventListener("click", () => {
    start2.classList.add("hidden");
    replace(body, wizard(session, roomId, node, status));
  });
  const reportButton = h("button", { type: "button", class: "secondary" }, "Validation report");
  reportButton.addEventListener("click", async () => {
    try {
      replace(body, renderReport(await session.validationReport(roomId, node.name), 0));
    } catch (error) {
      replace(body, notice("error", errorText(error)));
    }
  });
  return h(
    "div",
    { class: "card", "data-dataset-node": node.name },
    h("h3", {}, node.name, " ", h("span", { class: "pill" }, node.kind === "table" ? "table" : "file")),
    status,
    h("div", { class: "row" }, start2, current && node.kind === "table" ? reportButton : null),
    body
  );
}
function wizard(session, roomId, node, status) {
  const table = node.kind === "table";
  const columns = columnsOf(node).map((column) => column.name);
  const inputId = `file-${node.name}`;
  const input = h("input", { id: inputId, type: "file", accept: table ? ".csv,.tsv,.txt,text/csv" : null });
  const step2 = h("div", {});
  const root = h(
    "div",
    { class: "steps" },
    h("label", { for: inputId }, table ? "1. Choose a CSV file" : "1. Choose a file"),
    input,
    table ? h("p", { class: "hint" }, `The table's columns: ${columns.join(", ")}. A header row is matched to them by name.`) : null,
    step2
  );
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    if (!table) {
      replace(step2, uploadStep(session, roomId, node, file, null, status));
      return;
    }
    const sample = fromUtf8Lenient(new Uint8Array(await file.slice(0, SAMPLE_BYTES).arrayBuffer()));
    const plan = inspectCsv(sample, columns);
    replace(step2, mappingStep(plan, columns), plan.problems.length ? notice("error", h("ul", {}, ...plan.problems.map((p) => h("li", {}, p)))) : uploadStep(session, roomId, node, file, plan, status));
  });
  return root;
}
function fromUtf8Lenient(data) {
  try {
    return fromUtf8(data);
  } catch {
    return new TextDecoder("utf-8").decode(data);
  }
}
function mappingStep(plan, columns) {
  const describe = plan.delimiter === "	" ? "tab" : JSON.stringify(plan.delimiter);
  return h(
    "div",
    {},
    h("h4", {}, "2. The file's columns mapped to the table"),
    h("p", {}, `Delimiter ${describe}; ${plan.header ? "a header row, matched by name" : "no header row: columns by position"}.`),
    h(
      "table",
      { "data-mapping": "" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Table column"), h("th", { scope: "col" }, "From the file"))),
      h("tbody", {}, ...columns.map((column, index) => h(
        "tr",
        {},
        h("td", {}, h("code", {}, column)),
        h("td", {}, plan.header ? plan.header[plan.order[index]] ?? "missing" : `column ${index + 1}`)
      )))
    ),
    plan.preview.length ? dataTable(columns, plan.preview, "The first rows as they will be uploaded (shown only here)") : null
  );
}
function uploadStep(session, roomId, node, file, plan, status) {
  const button = h("button", { type: "button" }, "Encrypt, upload and publish");
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Encryption and upload" });
  const line = h("p", { "aria-live": "polite" });
  const out = h("div", {});
  button.addEventListener("click", async () => {
    button.setAttribute("disabled", "");
    try {
      line.textContent = "Encrypting in this browser and uploading…";
      const uploaded = await encryptAndUpload(file, {
        headers: authHeaders(),
        ...plan && !plan.asIs ? { reshape: { delimiter: plan.delimiter, header: plan.header, order: plan.order } } : {},
        onProgress: (done, total) => {
          progress.max = Math.max(total, 1);
          progress.value = done;
          line.textContent = `Encrypted and uploaded ${formatBytes(done)} of ${formatBytes(total)}`;
        }
      });
      line.textContent = "Sealing the key to the attested core and publishing…";
      const published = await session.publishDataset(roomId, node.name, uploaded.datasetId, uploaded.key);
      const report = published["report"];
      const outcome = published["validation"] ?? (report ? report["report"]?.["outcome"] : null);
      line.textContent = published["published"] === false ? "The file failed validation: the dataset that passed before stays published." : `Published dataset ${uploaded.datasetId.slice(0, 12)}…${outcome ? ` — validation ${outcome}` : ""}`;
      status.textContent = line.textContent;
      replace(out, report ? renderReport(report, plan?.header ? 1 : 0) : "");
    } catch (error) {
      replace(out, notice("error", errorText(error)));
      line.textContent = "";
    } finally {
      button.removeAttribute("disabled");
    }
  });
  return h(
    "div",
    {},
    h("h4", {}, plan ? "3. Encrypt and publish" : "2. Encrypt and publish"),
    h("p", { class: "hint" }, `${file.name}, ${formatBytes(file.size)}. The file is encrypted in this browser; only ciphertext is uploaded, and its key is sealed to the attested core.`),
    button,
    progress,
    line,
    out
  );
}
function renderReport(body, headerRows) {
  const report = body["report"] ?? body;
  const rows = [];
  for (const column of report["columns"] ?? []) {
    for (const error of column["recordedErrors"] ?? []) {
      rows.push([String((error["location"]?.["row"] ?? 0) + headerRows), column["name"], error["code"], error["message"] ?? ""]);
    }
  }
  for (const section of ["schema", "table", "uniqueness"]) {
    for (const error of report[section]?.["recordedErrors"] ?? []) {
      const row = error["row"] ?? error["location"]?.["row"];
      rows.push([row == null ? "" : String(row + headerRows), section, error["code"], error["message"] ?? ""]);
    }
  }
  return h(
    "div",
    { "data-report": report["outcome"] },
    h("h4", {}, "Validation report"),
    h("table", {}, h(
      "tbody",
      {},
      h("tr", {}, h("th", { scope: "row" }, "Outcome"), h("td", { class: report["outcome"] === "PASSED" ? "verified" : "failed" }, report["outcome"])),
      h("tr", {}, h("th", { scope: "row" }, "Rows"), h("td", { class: "num" }, String(report["numRowsTotal"]))),
      h("tr", {}, h("th", { scope: "row" }, "Invalid rows"), h("td", { class: "num" }, String(report["numInvalidRowsTotal"])))
    )),
    rows.length ? dataTable(["Row", "Column", "Error", "Message"], rows, "Errors found (row numbers as in your file)") : null,
    ...(report["hints"] ?? []).map((hint) => h("p", { class: "hint" }, hint)),
    ...(report["warnings"] ?? []).map((warning) => h("p", { class: "hint" }, warning))
  );
}
function computationCard(session, roomId, node) {
  const parameters = Array.isArray(node["parameters"]) ? node["parameters"] : [];
  const inputs = parameters.map((p) => {
    const id = `param-${node.name}-${p.name}`;
    return { name: p.name, label: h("label", { for: id }, p.name), input: h("input", { id, type: "text" }) };
  });
  const run = h("button", { type: "button" }, "Run");
  const line = h("p", { "aria-live": "polite" });
  const out = h("div", { "data-result": node.name });
  run.addEventListener("click", async () => {
    run.setAttribute("disabled", "");
    replace(out);
    try {
      const values = Object.fromEntries(inputs.map((i) => [i.name, i.input.value]));
      line.textContent = "Submitted…";
      const job = await session.run(roomId, node.name, values);
      const result = await session.result(job, (s) => {
        line.textContent = `Job ${job.jobId.slice(0, 12)}…: ${s}`;
      });
      line.textContent = `Result of job ${job.jobId.slice(0, 12)}…, verified and decrypted in this browser.`;
      const save = h("button", { type: "button", class: "secondary" }, "Download CSV");
      save.addEventListener("click", () => download(`${node.name}.csv`, result.csv, "text/csv"));
      const chart = barChart(result.table.columns, result.table.rows, node.name);
      replace(out, dataTable(result.table.columns, result.table.rows), chart ? h("div", { class: "chart" }, chart) : null, save);
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", errorText(error)));
    } finally {
      run.removeAttribute("disabled");
    }
  });
  return h(
    "div",
    { class: "card", "data-computation": node.name },
    h("h3", {}, node.name, " ", h("span", { class: "pill" }, node.kind.toUpperCase())),
    typeof node["query"] === "string" ? h("pre", {}, h("code", {}, node["query"])) : null,
    ...inputs.flatMap((i) => [i.label, i.input]),
    h("div", { class: "row" }, run),
    line,
    out
  );
}

// src/audit.ts
var HASH_SIZE = 32;
var MAX_PROOF_HASHES = 65;
async function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}
async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}
async function emptyRoot() {
  return sha256(new Uint8Array(0));
}
function split2(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
var MerkleTree = class {
  // levels[h][i]: hash of the 2**h leaves from i * 2**h.
  levels = [[]];
  get size() {
    return this.levels[0].length;
  }
  async append(leaf) {
    if (leaf.length !== HASH_SIZE) throw new Error(`a leaf hash is ${HASH_SIZE} bytes`);
    const index = this.size;
    this.levels[0].push(leaf);
    let level = 0;
    let position = index;
    while (position % 2 === 1) {
      const row = this.levels[level];
      const parent = await nodeHash(row[position - 1], row[position]);
      if (this.levels.length === level + 1) this.levels.push([]);
      this.levels[level + 1].push(parent);
      level += 1;
      position = Math.floor(position / 2);
    }
    return index;
  }
  /** MTH of the first `size` leaves (default: all). */
  async root(size = this.size) {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new Error("tree size outside the log");
    return size === 0 ? emptyRoot() : this.hash(0, size);
  }
  async inclusionProof(index, size) {
    if (size < 0 || size > this.size || index < 0 || index >= size) throw new Error("outside the tree");
    const proof = [];
    let start2 = 0;
    let n = size;
    let m = index;
    while (n > 1) {
      const k = split2(n);
      if (m < k) {
        proof.push(await this.hash(start2 + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start2, k));
        start2 += k;
        n -= k;
        m -= k;
      }
    }
    return proof.reverse();
  }
  async consistencyProof(first, second) {
    if (second < 0 || second > this.size || first < 0 || first > second) throw new Error("outside the tree");
    if (first === 0 || first === second) return [];
    const proof = [];
    let start2 = 0;
    let n = second;
    let m = first;
    let whole = true;
    while (m !== n) {
      const k = split2(n);
      if (m <= k) {
        proof.push(await this.hash(start2 + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start2, k));
        start2 += k;
        n -= k;
        m -= k;
        whole = false;
      }
    }
    if (!whole) proof.push(await this.hash(start2, m));
    return proof.reverse();
  }
  async hash(start2, n) {
    if ((n & n - 1) === 0 && start2 % n === 0) {
      return this.levels[Math.log2(n)][start2 / n];
    }
    const k = split2(n);
    return nodeHash(await this.hash(start2, k), await this.hash(start2 + k, n - k));
  }
};
function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new VerificationError(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
}
function checkProof(proof) {
  if (proof.length > MAX_PROOF_HASHES) throw new VerificationError("proof is too long");
  for (const item of proof) checkHash(item, "a proof element");
}
function checkSize(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new VerificationError(`${what} is not a tree size`);
}
async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  checkHash(firstRoot, "the first root");
  checkHash(secondRoot, "the second root");
  checkProof(proof);
  checkSize(first, "the first size");
  checkSize(second, "the second size");
  if (first > second) {
    throw new VerificationError("consistency proof: the first size is larger than the second");
  }
  if (first === 0 && !bytesEqual(firstRoot, await emptyRoot())) {
    throw new VerificationError("consistency proof: the empty tree has another root");
  }
  if (first === second) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty for equal sizes");
    if (!bytesEqual(firstRoot, secondRoot)) {
      throw new VerificationError("consistency proof: same size, different roots (a fork)");
    }
    return;
  }
  if (first === 0) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty from an empty tree");
    return;
  }
  if (proof.length === 0) throw new VerificationError("consistency proof: empty");
  const path = [...proof];
  const m = BigInt(first);
  if ((m & m - 1n) === 0n) path.unshift(firstRoot);
  let fn = m - 1n;
  let sn = BigInt(second) - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError("consistency proof: longer than needed");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("consistency proof: shorter than needed");
  if (!bytesEqual(fr, firstRoot)) throw new VerificationError("consistency proof: does not lead to the first root");
  if (!bytesEqual(sr, secondRoot)) throw new VerificationError("consistency proof: does not lead to the second root");
}
var MAX_NOTE_BYTES = 8192;
var SIGNATURE_PREFIX = "— ";
var NAME = /^[^\s+]+$/u;
var NOTE_CONTROL = /[\x00-\x09\x0b-\x1f]/;
async function keyId(name, publicKey) {
  return (await sha256(concat(utf8(name), utf8("\n"), Uint8Array.of(1), publicKey))).subarray(0, 4);
}
function strictBase64(text, what) {
  let raw;
  try {
    raw = fromBase64(text);
  } catch {
    throw new VerificationError(`${what} is not base64`);
  }
  if (toBase64(raw) !== text) throw new VerificationError(`${what} is not in canonical base64`);
  return raw;
}
function signatureLine(line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new VerificationError("signed note: malformed signature line");
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const signer = space < 0 ? rest : rest.slice(0, space);
  if (space < 0 || !NAME.test(signer)) throw new VerificationError("signed note: malformed signature line");
  const blob = rest.slice(space + 1);
  let raw;
  try {
    raw = fromBase64(blob);
  } catch {
    throw new VerificationError("signed note: signature is not base64");
  }
  if (toBase64(raw) !== blob) throw new VerificationError("signed note: signature is not in canonical base64");
  if (raw.length <= 4) throw new VerificationError("signed note: signature line without a signature");
  return [signer, raw];
}
async function openNote(note, name, publicKey) {
  if (!note.isWellFormed()) throw new VerificationError("signed note: not valid UTF-8");
  if (utf8(note).length > MAX_NOTE_BYTES) throw new VerificationError("signed note: too long");
  if (NOTE_CONTROL.test(note)) throw new VerificationError("signed note: control character");
  const cut = note.indexOf("\n\n");
  const text = cut < 0 ? note : note.slice(0, cut);
  const signatures = cut < 0 ? "" : note.slice(cut + 2);
  if (cut < 0 || !text || !signatures.endsWith("\n")) {
    throw new VerificationError("signed note: malformed (no text and signature block)");
  }
  const body = text + "\n";
  const lines = signatures.slice(0, -1).split("\n").map(signatureLine);
  const wanted = await keyId(name, publicKey);
  for (const [signer, raw] of lines) {
    if (signer !== name || !bytesEqual(raw.subarray(0, 4), wanted)) continue;
    if (raw.length !== 4 + 64) throw new VerificationError("signed note: Ed25519 signature of the wrong length");
    if (!await ed25519Verify(publicKey, raw.subarray(4), utf8(body))) {
      throw new VerificationError(`signed note: invalid signature by ${name}`);
    }
    return body;
  }
  throw new VerificationError(`signed note: no signature by ${name} with the expected key`);
}
function roomOrigin(roomId) {
  return `sealroom/rooms/${roomId}/audit`;
}
function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") {
    throw new VerificationError("checkpoint: expected origin, size and root lines");
  }
  const [origin, size, root] = lines;
  if (!origin || !NAME.test(origin)) throw new VerificationError("checkpoint: malformed origin");
  if (!/^(0|[1-9][0-9]{0,19})$/.test(size) || BigInt(size) >= 2n ** 63n) {
    throw new VerificationError("checkpoint: malformed tree size");
  }
  if (BigInt(size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VerificationError("checkpoint: tree size beyond what this browser counts");
  }
  let rootHash;
  try {
    rootHash = fromBase64(root);
  } catch {
    throw new VerificationError("checkpoint: root hash is not base64");
  }
  if (rootHash.length !== HASH_SIZE || toBase64(rootHash) !== root) {
    throw new VerificationError("checkpoint: root hash is not 32 bytes in canonical base64");
  }
  return Object.freeze({ origin, size: Number(size), rootHash });
}
async function openCheckpoint(note, origin, publicKey) {
  const checkpoint = parseCheckpoint(await openNote(note, origin, publicKey));
  if (checkpoint.origin !== origin) throw new VerificationError("checkpoint: of another log (origin differs)");
  return checkpoint;
}
var ACTION_LABELS = {
  ROOM_PUBLISHED: "Room published",
  ROOM_STOPPED: "Room stopped",
  DATASET_PUBLISHED: "Dataset published",
  DATASET_REMOVED: "Dataset removed",
  DATASET_VALIDATED: "Dataset validated",
  VALIDATION_REPORT_RETRIEVED: "Validation report read",
  DATASET_STATISTICS_SHARED: "Statistics sharing changed",
  DATASET_STATISTICS_RETRIEVED: "Statistics read",
  JOB_SUBMITTED: "Computation run",
  JOB_COMPLETED: "Computation finished",
  JOB_FAILED: "Computation failed",
  RESULT_RETRIEVED: "Result retrieved",
  DATASET_KEY_USED: "Dataset used by a computation",
  AIRLOCK_QUOTA_CHARGED: "Airlock quota charged",
  PRIVACY_BUDGET_CHARGED: "Privacy budget charged",
  ACCESS_DENIED: "Access denied",
  DEVELOPMENT_JOB_SUBMITTED: "Development computation run",
  REQUEST_SUBMITTED: "Request submitted",
  REQUEST_APPROVED: "Request approved",
  REQUEST_REJECTED: "Request rejected",
  REQUEST_SUPERSEDED: "Request superseded",
  REQUEST_PREVIEW_SUBMITTED: "Request previewed",
  COMMIT_INTEGRATED: "Room changed (commit integrated)",
  TAMPERING_DETECTED: "Tampering detected"
};
var EVENT_FIELDS = ["room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"];
var MAX_NOTES_CHARS = 2e3;
var MAX_USER_CHARS = 320;
var MAX_DETAILS = 32;
var MAX_DETAIL_KEY_CHARS = 64;
var MAX_DETAIL_VALUE_CHARS = 512;
var MAX_PROOF_DETAIL_CHARS = 16384;
var EVENT_CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
function checkText(where, name, value, max, allowEmpty) {
  if (typeof value !== "string") throw new VerificationError(`malformed audit entry${where}: ${name} must be a str`);
  if (!allowEmpty && !value) throw new VerificationError(`malformed audit entry${where}: ${name} must not be empty`);
  if (codePoints(value) > max) {
    throw new VerificationError(`malformed audit entry${where}: ${name} is longer than ${max} characters`);
  }
  if (EVENT_CONTROL.test(value)) {
    throw new VerificationError(`malformed audit entry${where}: ${name} contains control characters`);
  }
  if (!value.isWellFormed()) throw new VerificationError(`malformed audit entry${where}: ${name} is not valid Unicode text`);
  return value;
}
function checkCount(where, name, value) {
  if (!isSafeInt(value) || value < 0) {
    throw new VerificationError(`malformed audit entry${where}: ${name} must be between 0 and 2**53-1`);
  }
  return value;
}
function eventFromWire(raw) {
  const where = isObject(raw) && isSafeInt(raw["seq"]) ? ` ${raw["seq"]}` : "";
  if (!isObject(raw)) throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  const keys = Object.keys(raw);
  if (keys.length !== EVENT_FIELDS.length || !EVENT_FIELDS.every((f) => f in raw)) {
    throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  }
  const action2 = raw["action"];
  if (typeof action2 !== "string" || !(action2 in ACTION_LABELS)) {
    throw new VerificationError(`malformed audit entry${where}: unknown action`);
  }
  const rawDetails = raw["details"];
  if (!isObject(rawDetails)) throw new VerificationError(`malformed audit entry${where}: details is not an object`);
  const room_id = checkText(where, "room_id", raw["room_id"], MAX_DETAIL_VALUE_CHARS, false);
  const seq = checkCount(where, "seq", raw["seq"]);
  const timestamp_ms = checkCount(where, "timestamp_ms", raw["timestamp_ms"]);
  const user = checkText(where, "user", raw["user"], MAX_USER_CHARS, true);
  const notes = checkText(where, "notes", raw["notes"], MAX_NOTES_CHARS, true);
  const entries2 = Object.entries(rawDetails);
  if (entries2.length > MAX_DETAILS) throw new VerificationError(`malformed audit entry${where}: more than ${MAX_DETAILS} details`);
  const details = {};
  for (const [key, value] of entries2) {
    checkText(where, "details key", key, MAX_DETAIL_KEY_CHARS, false);
    if (typeof value === "string") {
      checkText(where, `details['${key}']`, value, key === "proof" ? MAX_PROOF_DETAIL_CHARS : MAX_DETAIL_VALUE_CHARS, true);
    } else if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        throw new VerificationError(`malformed audit entry${where}: details['${key}'] is out of range`);
      }
    } else if (typeof value !== "boolean" && value !== null) {
      throw new VerificationError(`malformed audit entry${where}: details['${key}'] must be str, int, bool or None`);
    }
    details[key] = value;
  }
  return Object.freeze({ room_id, seq, timestamp_ms, user, action: action2, notes, details: Object.freeze(details) });
}
function eventsFromWire(raw) {
  if (!Array.isArray(raw)) throw new VerificationError("malformed audit log: not a list of entries");
  return raw.map(eventFromWire);
}
function eventCanonical(event) {
  return canonicalJson(eventToWire(event));
}
function eventToWire(event) {
  return {
    room_id: event.room_id,
    seq: event.seq,
    timestamp_ms: event.timestamp_ms,
    user: event.user,
    action: event.action,
    notes: event.notes,
    details: { ...event.details }
  };
}
async function eventLeafHash(event) {
  return leafHash(eventCanonical(event));
}
var INVISIBLE = /[\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;
function visible(text) {
  return text.replace(INVISIBLE, (c) => `\\u${c.codePointAt(0).toString(16).padStart(4, "0")}`);
}
function describeEvent(event) {
  return Object.freeze({
    seq: event.seq,
    timestampMs: event.timestamp_ms,
    time: new Date(event.timestamp_ms).toISOString(),
    user: visible(event.user),
    action: event.action,
    label: ACTION_LABELS[event.action] ?? event.action,
    description: visible(event.notes),
    details: event.details,
    event
  });
}
async function verifyLog(roomId, events, note, verifyKey, previous = null) {
  const checkpoint = await openCheckpoint(note, roomOrigin(roomId), verifyKey);
  events.forEach((event, position) => {
    if (event.room_id !== roomId) throw new VerificationError(`audit entry ${position}: belongs to another room`);
    if (event.seq !== position) {
      throw new VerificationError(
        `audit entry ${position}: has seq ${event.seq}, expected ${position} (entries missing, duplicated or reordered)`
      );
    }
  });
  if (events.length !== checkpoint.size) {
    throw new VerificationError(`audit log has ${events.length} entries, its checkpoint commits to ${checkpoint.size}`);
  }
  const tree = new MerkleTree();
  for (const event of events) await tree.append(await eventLeafHash(event));
  if (!bytesEqual(await tree.root(), checkpoint.rootHash)) {
    throw new VerificationError("audit log does not match its signed checkpoint (entry edited)");
  }
  if (previous !== null) await checkExtends(previous, checkpoint.origin, tree);
  return Object.freeze({ roomId, events, checkpoint, note, tree });
}
async function checkExtends(previous, origin, tree) {
  if (previous.origin !== origin) throw new VerificationError("checkpoints of different logs");
  if (previous.size > tree.size) {
    throw new VerificationError(
      `audit log truncated: it has ${tree.size} entries, ${previous.size} were seen before`
    );
  }
  if (!bytesEqual(await tree.root(previous.size), previous.rootHash)) {
    throw new VerificationError(
      `audit log forked: not an extension of the history seen before (the first ${previous.size} entries differ)`
    );
  }
}
async function loadSavedCheckpoint(roomId, verifyKey, memory = defaultMemory()) {
  const record = recordForKey(memory, memoryKeys.checkpoint(roomId), roomId, verifyKey);
  if (record === null) return null;
  const note = String(record["checkpoint"]);
  try {
    return { note, checkpoint: await openCheckpoint(note, roomOrigin(roomId), verifyKey) };
  } catch (error) {
    throw new VerificationError(
      `the audit checkpoint this browser saved for room ${roomId} does not verify (${error.message}); it was altered: clear this site's data to trust the server afresh`
    );
  }
}
async function saveCheckpoint(roomId, verifyKey, note, checkpoint, memory = defaultMemory()) {
  const current = await loadSavedCheckpoint(roomId, verifyKey, memory);
  if (current !== null && current.checkpoint.size > checkpoint.size) return;
  writeRecord(memory, memoryKeys.checkpoint(roomId), { checkpoint: note, core_public_key: toHex(verifyKey) });
}
async function verifyAuditLog(roomId, source, core, options = {}) {
  const fetcher = asFetcher(source);
  const memory = options.memory ?? defaultMemory();
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/audit-log`);
  if (!isObject(body) || typeof body["checkpoint"] !== "string" || !Array.isArray(body["entries"])) {
    throw new VerificationError("the server sent a malformed audit log (entries and signed checkpoint)");
  }
  const events = eventsFromWire(body["entries"]);
  const note = body["checkpoint"];
  const key = core.verifyKey;
  const previous = options.lastSeen !== void 0 ? options.lastSeen : (await loadSavedCheckpoint(roomId, key, memory))?.checkpoint ?? null;
  const verified = await verifyLog(roomId, events, note, key, previous);
  if (previous !== null && previous.size > 0 && previous.size < verified.checkpoint.size) {
    const proof = await fetcher.json(
      `/v1/rooms/${roomId}/audit-log/proof/consistency?first=${previous.size}&second=${verified.checkpoint.size}`
    );
    if (!isObject(proof) || !Array.isArray(proof["proof"]) || !proof["proof"].every((p) => typeof p === "string")) {
      throw new VerificationError("the server sent a malformed consistency proof");
    }
    const hashes = proof["proof"].map((p) => strictBase64(p, "a proof element"));
    await verifyConsistency(previous.size, verified.checkpoint.size, previous.rootHash, verified.checkpoint.rootHash, hashes);
  }
  if (options.lastSeen === void 0) await saveCheckpoint(roomId, key, note, verified.checkpoint, memory);
  return Object.freeze({
    roomId,
    entries: events.map(describeEvent),
    events,
    checkpoint: verified.checkpoint,
    note,
    size: verified.checkpoint.size,
    rootHash: toHex(verified.checkpoint.rootHash),
    previous,
    previousSize: previous?.size ?? null
  });
}
var EXPORT_FORMAT = "sealroom/audit-export/v2";
async function exportAuditLog(roomId, source, core, options = {}) {
  const memory = options.memory ?? defaultMemory();
  const log = await verifyAuditLog(roomId, source, core, { memory });
  const room = await verifyRoom(roomId, source, core, memory);
  return buildAuditExport(log, room, core.verifyKey);
}
function buildAuditExport(log, room, verifyKey) {
  if (room.roomId !== log.roomId) throw new Error("the room and the log are of different rooms");
  const integrated = log.events.filter((e) => e.action === "COMMIT_INTEGRATED").length;
  if (room.commits.length < integrated) {
    throw new VerificationError(
      `room ${log.roomId}: the log integrates ${integrated} commit(s), but only ${room.commits.length} were served (the room's history was cut)`
    );
  }
  const body = {
    checkpoint: log.note,
    commits: room.commits.slice(0, integrated).map((c) => c.text),
    core_public_key: toHex(verifyKey),
    definition: room.definitionText,
    entries: log.events.map(eventToWire),
    format: EXPORT_FORMAT,
    room_id: log.roomId
  };
  return concat(canonicalJson(body), utf8("\n"));
}
function exportText(data) {
  return fromUtf8(data);
}

// src/pages/audit.ts
async function mount3(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    await session.room(roomId);
    const fetcher = makeFetcher(authHeaders());
    const log = await verifyAuditLog(roomId, fetcher, session.core);
    const save = h("button", { type: "button", class: "secondary" }, "Download audit log");
    save.addEventListener("click", async () => {
      try {
        const exported = await exportAuditLog(roomId, fetcher, session.core);
        download(`audit-${roomId.slice(0, 12)}.json`, exportText(exported), "application/json");
      } catch (error) {
        section.append(notice("error", errorText(error)));
      }
    });
    replace(
      section,
      h(
        "div",
        { class: "card", "data-verified": "audit" },
        h(
          "p",
          {},
          h("span", { class: "verified" }, "✓ Verified in this browser: "),
          `${log.size} entries, all included in the checkpoint the attested core signed`,
          log.previousSize != null ? `, which extends the checkpoint this browser saw before (${log.previousSize} entries)` : "",
          "."
        ),
        h("p", {}, "Root hash ", h("code", {}, log.rootHash)),
        save
      ),
      dataTable(["#", "Time (UTC)", "Who", "Action", "What"], log.entries.map((entry) => [
        String(entry.seq + 1),
        entry.time.replace("T", " ").slice(0, 19),
        entry.user,
        entry.label,
        entry.description
      ]), void 0, { nowrap: [1] })
    );
  } catch (error) {
    replace(section, notice("error", `The audit log could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

// src/media.ts
var MEDIA_MARKER = "sealroom.media v1 ";
var DATA_LAB_MARKER = "sealroom.data_lab v1 ";
function roomKind(definition) {
  const description2 = definition.description ?? "";
  if (description2.startsWith(MEDIA_MARKER)) return "media";
  if (description2.startsWith(DATA_LAB_MARKER)) return "data-lab";
  return "room";
}
var ConfigError = class extends Error {
  constructor(what, problem2) {
    super(`this room's ${what} configuration cannot be read: ${problem2}`);
    this.name = "ConfigError";
  }
};
var isString = (v, p) => {
  if (typeof v !== "string") throw new Error(`${p} is not text`);
};
var isBool = (v, p) => {
  if (typeof v !== "boolean") throw new Error(`${p} is not true or false`);
};
var isCount = (v, p) => {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${p} is not a count`);
};
var isNumberOrNull = (v, p) => {
  if (v !== null && typeof v !== "number") throw new Error(`${p} is not a number`);
};
var listOf = (check) => (v, p) => {
  if (!Array.isArray(v)) throw new Error(`${p} is not a list`);
  v.forEach((item, i) => check(item, `${p}[${i}]`));
};
var shape = (fields) => (v, p) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${p} is not an object`);
  for (const [name, check] of Object.entries(fields)) check(v[name], `${p}.${name}`);
};
var IDENTIFIER = shape({ idName: isString, idType: isString, isMatchingId: isBool, isActivationId: isBool });
var MEDIA_SHAPE = shape({
  name: isString,
  collaborationTypes: listOf(isString),
  hideAbsoluteValuesFromInsights: isBool,
  matchingIdType: isString,
  participantGroups: listOf(shape({ id: isString, role: isString, emails: listOf(isString), permissions: listOf(isString) })),
  showMatchRate: isBool,
  baseAudience: shape({
    identifiersConfig: listOf(IDENTIFIER),
    requireSegments: isBool,
    requireDemographics: isBool,
    numEmbeddings: isCount
  }),
  privacy: shape({ mode: isString, minimumAudienceSize: isCount, epsilonBudget: isNumberOrNull, epsilonPerRun: isNumberOrNull }),
  minimumGroupSize: isCount
});
var DATA_LAB_SHAPE = shape({
  name: isString,
  requireDemographics: isBool,
  requireEmbeddings: isBool,
  numEmbeddings: isCount,
  requireSegments: isBool,
  identifiersConfig: listOf(IDENTIFIER),
  collaborationTypes: listOf(isString),
  dropInvalidRows: isBool,
  minimumGroupSize: isCount
});
function parseDescription(definition, marker, what, check) {
  const description2 = definition.description ?? "";
  if (!description2.startsWith(marker)) throw new ConfigError(what, `it is not a ${what} room`);
  let value;
  try {
    value = JSON.parse(description2.slice(marker.length));
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
function mediaConfigOf(definition) {
  return parseDescription(definition, MEDIA_MARKER, "media", MEDIA_SHAPE);
}
function dataLabConfigOf(definition) {
  return parseDescription(definition, DATA_LAB_MARKER, "DataLab", DATA_LAB_SHAPE);
}
function groupOf(config, email) {
  return config.participantGroups.find((group) => group.emails.some((e) => sameEmail(e, email))) ?? null;
}
function activationColumns(config) {
  return config.baseAudience.identifiersConfig.filter((c) => c.isActivationId).map((c) => c.idName);
}
var PERMISSION_WORDS = {
  PROVIDE_BASE_AUDIENCE: "provide the base audience",
  PROVIDE_SEED_AUDIENCE: "provide seed audiences",
  VIEW_OVERLAP: "see the overlap",
  VIEW_INSIGHTS: "see insights",
  CREATE_CUSTOM_AUDIENCE: "create audiences and size them",
  EXPORT_AUDIENCE: "size audiences and export their user lists",
  MODEL_QUALITY: "see the quality of lookalike models",
  MANAGE_USERS: "manage the group's people"
};
var COLLABORATION_WORDS = {
  OVERLAP: "Overlap",
  INSIGHTS: "Insights",
  REMARKETING: "Remarketing audiences",
  EXCLUSION_TARGETING: "Exclusion-targeting audiences",
  LOOKALIKE: "Lookalike audiences",
  RULE_BASED: "Rule-based audiences"
};
var AGGREGATION_WORDS = {
  segment: "Segment",
  age: "Age",
  gender: "Gender",
  age_gender: "Age and gender"
};
function permissionWords(permission) {
  return PERMISSION_WORDS[permission] ?? permission;
}
function can(group, ...permissions) {
  return group !== null && permissions.some((p) => group.permissions.includes(p));
}
function round3(x) {
  const halves = x * 2e3;
  if (Number.isInteger(x * 16) && Number.isInteger(halves) && halves % 2 !== 0) {
    const lower = (halves - 1) / 2;
    return (lower % 2 === 0 ? lower : lower + 1) / 1e3;
  }
  return Number(x.toFixed(3));
}
function ratio(numerator, denominator) {
  if (numerator === null || !denominator) return null;
  return round3(numerator / denominator);
}
function countOf(cell) {
  if (cell === void 0 || cell === "") return null;
  const value = Number(cell);
  if (!Number.isFinite(value)) throw new Error("a released count is not a number");
  return value;
}
var NUMBER_FORMAT = new Intl.NumberFormat("en-US");
function formatCount(value, tooSmall = "too small") {
  return value === null ? tooSmall : NUMBER_FORMAT.format(value);
}
function formatShare(value) {
  return value === null ? "–" : `${(value * 100).toFixed(1)} %`;
}
function assembleOverlap(rows, showMatchRate) {
  const byType = /* @__PURE__ */ new Map();
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
        activationIds: {}
      };
      byType.set(audienceType, entry);
    }
    if (activationId) entry.activationIds[activationId] = countOf(activationIds);
  }
  return [...byType.values()];
}
function assembleInsights(rows, hideAbsoluteValues) {
  const totals = /* @__PURE__ */ new Map();
  const groups = /* @__PURE__ */ new Map();
  const at = (type, aggregation) => JSON.stringify([type, aggregation]);
  for (const [audienceType = "", aggregation = "", key = "", overlapValue, baseValue] of rows) {
    if (aggregation === "total") {
      totals.set(at(audienceType, key), [countOf(overlapValue), countOf(baseValue)]);
    } else {
      const overlap = countOf(overlapValue);
      const base = countOf(baseValue);
      if (overlap === null || base === null) continue;
      const id = at(audienceType, aggregation);
      if (!groups.has(id)) groups.set(id, { audienceType, aggregation, items: [] });
      groups.get(id).items.push([key, overlap, base]);
    }
  }
  const byType = /* @__PURE__ */ new Map();
  const ordered2 = [...groups.values()].sort((a, b) => a.audienceType === b.audienceType ? compare(a.aggregation, b.aggregation) : compare(a.audienceType, b.audienceType));
  for (const { audienceType, aggregation, items } of ordered2) {
    const [overlapTotal, baseTotal] = totals.get(at(audienceType, aggregation)) ?? [null, null];
    const table = items.map(([key, overlapValue, baseValue]) => {
      const overlapShare = hideAbsoluteValues ? overlapValue : ratio(overlapValue, overlapTotal) ?? 0;
      const baseShare = hideAbsoluteValues ? baseValue : ratio(baseValue, baseTotal) ?? 0;
      return {
        key,
        overlapSize: hideAbsoluteValues ? null : Math.trunc(overlapValue),
        baseSize: hideAbsoluteValues ? null : Math.trunc(baseValue),
        overlapShare,
        baseShare,
        netPropensity: round3(overlapShare - baseShare),
        affinity: ratio(overlapShare, baseShare)
      };
    });
    if (!byType.has(audienceType)) byType.set(audienceType, { audienceType, aggregations: [] });
    byType.get(audienceType).aggregations.push({ aggregation, rows: table });
  }
  return [...byType.values()];
}
function compare(a, b) {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x !== y) return x < y ? -1 : 1;
    if (x > 65535) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
function customAudienceOf(row) {
  const [id = "", name = "", createdBy = "", createdAt = "", sharedWith = "", definition = "", group = ""] = row;
  const shared = JSON.parse(sharedWith || "[]");
  const parsed = JSON.parse(definition);
  if (!Array.isArray(shared) || typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`audience ${id}: its definition is not readable`);
  }
  return { id, name, createdBy, createdAt, sharedWith: shared.map(String), definition: parsed, createdByGroup: group };
}
function customAudienceRow(audience) {
  return [
    audience.id,
    audience.name,
    audience.createdBy,
    audience.createdAt,
    pythonJson(audience.sharedWith, false),
    compactJson(audience.definition),
    audience.createdByGroup
  ];
}
function audiencesFor(group, audiences) {
  if (!group) return [];
  return audiences.filter((a) => a.createdByGroup === group.id || a.sharedWith.includes(group.id) || a.sharedWith.includes(group.role));
}
function dependsOn(definition) {
  const found = [];
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === "object" && value !== null) {
      const record = value;
      if (record["kind"] === "CUSTOM" && "id" in record) found.push(String(record["id"]));
      Object.values(record).forEach(walk);
    }
  };
  walk(definition);
  return found;
}
function kindEnabled(config, kind) {
  return config.collaborationTypes.includes(kind);
}
function referenceWords(ref, names) {
  const record = typeof ref === "object" && ref !== null ? ref : {};
  if (record["kind"] === "BASE") return "all base users";
  if (record["kind"] === "SEED") return `seed audience “${String(record["audienceType"])}”`;
  if (record["kind"] === "CUSTOM") return `audience “${names.get(String(record["id"])) ?? String(record["id"])}”`;
  return "an unknown source";
}
var FILTER_WORDS = {
  CONTAINS_ANY_OF: "is any of",
  CONTAINS_NONE_OF: "is none of",
  CONTAINS_ALL_OF: "includes all of",
  EMPTY: "is unknown",
  NOT_EMPTY: "is known"
};
var COMBINE_WORDS = {
  INTERSECT: "only those also in",
  UNION: "plus",
  DIFF: "minus"
};
function filtersWords(value) {
  const record = typeof value === "object" && value !== null ? value : {};
  const filters = Array.isArray(record["filters"]) ? record["filters"] : [];
  if (!filters.length) return "";
  const join = record["booleanOp"] === "OR" ? " or " : " and ";
  return " whose " + filters.map((f) => {
    const values = Array.isArray(f["values"]) ? ` ${f["values"].map(String).join(", ")}` : "";
    return `${String(f["attribute"])} ${FILTER_WORDS[String(f["operator"])] ?? String(f["operator"])}${values}`;
  }).join(join);
}
function definitionWords(definition, names) {
  const seedType = definition["seedAudienceRef"]?.["audienceType"];
  switch (definition["kind"]) {
    case "REMARKETING":
      return `Remarketing: the base users in seed audience “${String(seedType)}”`;
    case "EXCLUSION_TARGETING":
      return `Exclusion targeting: the base users not in seed audience “${String(seedType)}”`;
    case "LOOKALIKE":
      return `Lookalike: the ${String(definition["reach"])} % of the base most like ${referenceWords(definition["sourceRef"], names)}` + (definition["excludeSeedAudience"] ? ", without it" : "");
    case "RULE_BASED": {
      const steps = Array.isArray(definition["combine"]) ? definition["combine"] : [];
      return `Rule-based: ${referenceWords(definition["sourceRef"], names)}${filtersWords(definition["filters"])}` + steps.map((step) => `; ${COMBINE_WORDS[String(step["operator"])] ?? String(step["operator"])} ${referenceWords(step["sourceRef"], names)}${filtersWords(step["filters"])}`).join("");
    }
    default:
      return `An audience of kind ${String(definition["kind"])}`;
  }
}
var RULE_ATTRIBUTES = ["segment", "age", "gender"];
var FILTER_OPERATORS = ["CONTAINS_ANY_OF", "CONTAINS_NONE_OF", "CONTAINS_ALL_OF", "EMPTY", "NOT_EMPTY"];
var COMBINE_OPERATORS = ["INTERSECT", "UNION", "DIFF"];
function filterJson(filter) {
  if (!RULE_ATTRIBUTES.includes(filter.attribute)) {
    throw new Error(`filter attribute '${filter.attribute}': use one of ${RULE_ATTRIBUTES.join(", ")}`);
  }
  if (!FILTER_OPERATORS.includes(filter.operator)) throw new Error(`filter operator '${filter.operator}': use one of ${FILTER_OPERATORS.join(", ")}`);
  const needsValues = filter.operator !== "EMPTY" && filter.operator !== "NOT_EMPTY";
  if (needsValues && filter.values.length === 0) throw new Error(`filter ${filter.operator} on ${filter.attribute} needs values`);
  const out = { attribute: filter.attribute, operator: filter.operator };
  if (needsValues) out["values"] = filter.values.map(String);
  return out;
}
function filtersJson(filters) {
  if (filters.booleanOp !== "AND" && filters.booleanOp !== "OR") throw new Error("filters are joined by AND or OR");
  return { booleanOp: filters.booleanOp, filters: filters.filters.map(filterJson) };
}
function ruleBasedDefinition(input) {
  const definition = { kind: "RULE_BASED", sourceRef: { ...input.source } };
  if (input.filters !== null) definition["filters"] = filtersJson(input.filters);
  if (input.combine.length) {
    definition["combine"] = input.combine.map((step) => {
      if (!COMBINE_OPERATORS.includes(step.operator)) throw new Error(`a combination is ${COMBINE_OPERATORS.join(", ")}`);
      const out = { operator: step.operator, sourceRef: { ...step.source } };
      if (step.filters !== null) out["filters"] = filtersJson(step.filters);
      return out;
    });
  }
  return definition;
}
function attributesOf(rows) {
  const attributes = /* @__PURE__ */ new Map();
  for (const [attribute = "", value = ""] of rows) {
    if (!attributes.has(attribute)) attributes.set(attribute, []);
    attributes.get(attribute).push(value);
  }
  return attributes;
}
var AudienceChangeError = class extends Error {
  constructor(code, audience, message) {
    super(message);
    this.code = code;
    this.audience = audience;
    this.name = "AudienceChangeError";
  }
  code;
  audience;
};
function afterSharing(current, ids, participants, groupId) {
  return current.map((audience) => {
    if (!ids.includes(audience.id)) return audience;
    if (audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
    return { ...audience, sharedWith: [.../* @__PURE__ */ new Set([...audience.sharedWith, ...participants])] };
  });
}
function afterDeleting(current, ids, withDependents, groupId) {
  const doomed = new Set(ids);
  for (const audience of current) {
    if (doomed.has(audience.id) && audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
  }
  let changed3 = true;
  while (changed3) {
    changed3 = false;
    for (const audience of current) {
      if (doomed.has(audience.id) || !dependsOn(audience.definition).some((id) => doomed.has(id))) continue;
      if (!withDependents) {
        throw new AudienceChangeError(
          "has_dependents",
          audience.name,
          `audience “${audience.name}” depends on one you delete: delete it too (with the audiences that depend on it), or keep both`
        );
      }
      if (audience.createdByGroup !== groupId) {
        throw new AudienceChangeError(
          "has_dependents",
          audience.name,
          `audience “${audience.name}” of another group depends on one you delete: they must delete it first`
        );
      }
      doomed.add(audience.id);
      changed3 = true;
    }
  }
  return current.filter((audience) => !doomed.has(audience.id));
}
function dependentsOf(current, id) {
  const found = /* @__PURE__ */ new Set([id]);
  let changed3 = true;
  while (changed3) {
    changed3 = false;
    for (const audience of current) {
      if (!found.has(audience.id) && dependsOn(audience.definition).some((d) => found.has(d))) {
        found.add(audience.id);
        changed3 = true;
      }
    }
  }
  return current.filter((audience) => audience.id !== id && found.has(audience.id));
}
var CHARGE_FIELDS = ["job_id", "node", "epsilon", "delta", "spent_epsilon", "spent_delta"];
function privacySpent(events) {
  const spent = { epsilon: 0, delta: 0, charges: 0 };
  for (const event of events) {
    if (event.action !== "PRIVACY_BUDGET_CHARGED") continue;
    if (!CHARGE_FIELDS.every((field) => typeof event.details[field] === "string")) continue;
    const epsilon = Number(event.details["epsilon"]);
    const delta = Number(event.details["delta"]);
    if (!Number.isFinite(epsilon) || !Number.isFinite(delta)) throw new Error("a privacy budget charge in the log is not a number");
    spent.epsilon += epsilon;
    spent.delta += delta;
    spent.charges += 1;
  }
  return spent;
}
function pythonJson(value, sortKeys = true) {
  return encodeJson(value, sortKeys, ", ", ": ", true);
}
function compactJson(value) {
  return encodeJson(value, true, ",", ":", true);
}
function encodeJson(value, sortKeys, item, key, ascii) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("only whole numbers are written in an audience");
    return String(value);
  }
  if (typeof value === "string") {
    const text = JSON.stringify(value);
    return ascii ? text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => encodeJson(v, sortKeys, item, key, ascii)).join(item)}]`;
  if (typeof value === "object") {
    const record = value;
    const keys = Object.keys(record);
    if (sortKeys) keys.sort(compare);
    return `{${keys.map((k) => `${encodeJson(k, sortKeys, item, key, ascii)}${key}${encodeJson(record[k], sortKeys, item, key, ascii)}`).join(item)}}`;
  }
  throw new Error("not a JSON value");
}
function audienceParameter(ref) {
  return pythonJson(ref);
}
function newAudienceId() {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}
function createdAtNow() {
  return (/* @__PURE__ */ new Date()).toISOString();
}
var REFUSAL_FILE = "refusal.json";
var AudienceRefusedError = class extends Error {
  constructor(reason) {
    super(`the audience engine refused: ${reason}`);
    this.name = "AudienceRefusedError";
  }
};

// src/data-lab.ts
function dataLabTables(config) {
  return [
    "matching",
    ...config.requireSegments ? ["segments"] : [],
    ...config.requireDemographics ? ["demographics"] : [],
    ...config.requireEmbeddings ? ["embeddings"] : []
  ];
}
function statisticsRows(rows) {
  return rows.map(([metric = "", idName = "", key = "", value = ""]) => {
    const number = Number(value);
    if (value === "" || !Number.isFinite(number)) throw new Error(`the statistic ${metric} is not a number`);
    return [metric, idName, key, number];
  });
}
function share(absolute, total) {
  return { absolute, relative: total ? round3(absolute / total) : 0 };
}
function assembleStatistics(config, rows, reports) {
  const single = /* @__PURE__ */ new Map();
  const groups = /* @__PURE__ */ new Map();
  const at = (...parts) => JSON.stringify(parts);
  for (const [metric, idName, key, value] of rows) {
    if (metric === "segment_users" || metric === "segments_per_user" || metric === "demographics") {
      if (!groups.has(at(metric, idName))) groups.set(at(metric, idName), /* @__PURE__ */ new Map());
      groups.get(at(metric, idName)).set(key, Math.round(value));
    } else {
      single.set(at(metric, idName, key), value);
    }
  }
  const get = (metric, idName = "", key = "") => Math.round(single.get(at(metric, idName, key)) ?? 0);
  const user = config.identifiersConfig[0]?.idName ?? "";
  const ids = config.identifiersConfig.slice(1);
  const matching = ids.filter((c) => c.isMatchingId).map((c) => c.idName);
  const datasets2 = dataLabTables(config).map((node) => {
    const body = reports[node]?.["report"] ?? {};
    const total = Number(body["numRowsTotal"] ?? 0);
    const valid = get("valid_rows", node);
    return { node, totalRows: total, validRows: valid, invalidRows: total - valid, invalidByReason: { ...body["numInvalidRowsByErrorCode"] ?? {} } };
  });
  const identifiers = config.identifiersConfig.map((c) => {
    const isUser = c.idName === user;
    return {
      name: c.idName,
      idType: c.idType,
      isMatchingId: c.isMatchingId,
      isActivationId: c.isActivationId,
      distinctIds: isUser ? get("distinct_user_ids", "matching") : get("distinct_ids", c.idName),
      avgUsersPerId: isUser ? 1 : round3(single.get(at("avg_userids_per_id", c.idName, "")) ?? 0),
      maxUsersPerId: isUser ? 1 : get("max_userids_per_id", c.idName),
      avgIdsPerUser: isUser ? 1 : round3(single.get(at("avg_ids_per_user", c.idName, "")) ?? 0)
    };
  });
  const reachable = matching.flatMap((m) => config.identifiersConfig.filter((a) => a.isActivationId).map((a) => ({ matchingId: m, activationId: a.idName, count: get("reachable_activation_ids", m, a.idName) })));
  const stats = {
    distinctUsers: get("distinct_user_ids", "matching"),
    datasets: datasets2,
    identifiers,
    reachable,
    segments: null,
    demographics: null,
    usersWithEmbeddings: config.requireEmbeddings ? get("users_with_embeddings") : null
  };
  if (config.requireSegments) {
    const everyone = get("users_with_segments");
    const all = groups.get(at("segment_users", "")) ?? /* @__PURE__ */ new Map();
    stats.segments = {
      usersWithSegments: everyone,
      distinctSegments: get("distinct_segments", "segments"),
      rows: [...all.keys()].sort().map((segment) => ({
        segment,
        all: share(all.get(segment), everyone),
        byMatchingId: Object.fromEntries(matching.map((m) => {
          const mine = groups.get(at("segment_users", m));
          return [m, share(mine?.get(segment) ?? 0, get("users_with_segments", m))];
        }))
      }))
    };
  }
  if (config.requireDemographics) {
    const everyone = get("users_with_demographics");
    const counts = groups.get(at("demographics", "")) ?? /* @__PURE__ */ new Map();
    stats.demographics = {
      usersWithDemographics: everyone,
      rows: [...counts.keys()].sort().map((key) => {
        const [age = "", gender = ""] = key.split("||");
        return { age, gender, users: share(counts.get(key), everyone) };
      })
    };
  }
  return stats;
}
function validationStatus(config, validRows, outcomes) {
  let ok = true;
  const datasets2 = dataLabTables(config).map((node) => {
    const validation2 = outcomes.get(node) ?? null;
    const rows = validRows.get(node) ?? null;
    const mustHaveRows = node === "matching" || node === "segments";
    ok &&= validation2 === "PASSED" && (!mustHaveRows || (rows ?? 0) > 0);
    return { node, validation: validation2, validRows: rows };
  });
  return { status: ok ? "SUCCESS" : "FAILED", datasets: datasets2 };
}

// src/pages/data-lab.ts
var STATISTICS = "statistics";
var STATUS = "validation_status";
var DATASET_WORDS = {
  matching: "Identifiers",
  segments: "Segments",
  demographics: "Demographics",
  embeddings: "Embeddings"
};
async function mount4(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const config = dataLabConfigOf(room.definition);
    const me = room.definition.participants.find((p) => p.email.trim().toLowerCase() === session.email.trim().toLowerCase());
    const page = {
      session,
      roomId,
      room,
      config,
      published: await getJson(`/v1/rooms/${roomId}/datasets`),
      ownerOf: new Set(me?.data_owner_of ?? []),
      analystOf: new Set(me?.analyst_of ?? [])
    };
    replace(
      section,
      h(
        "div",
        { class: "card", "data-verified": "data-lab" },
        h(
          "p",
          {},
          h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this configuration is part of the DataLab's definition, which hashes to its id and was signed by the attested core."
        ),
        h("p", {}, "DataLab id ", h("code", {}, roomId)),
        h("p", { class: "hint" }, "Its statistics are released to the publisher alone; a media room uses the DataLab as its base audience once it is validated.")
      ),
      h("h2", {}, "Configuration"),
      configuration(config),
      h("h2", {}, "Datasets"),
      datasets(page),
      validationSection(page),
      statisticsSection(page)
    );
  } catch (error) {
    replace(section, notice("error", `This DataLab could not be shown: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
function configuration(config) {
  const tables = dataLabTables(config).map((node) => DATASET_WORDS[node] ?? node);
  return h(
    "div",
    { "data-lab-config": "" },
    h(
      "ul",
      {},
      h("li", {}, `Datasets: ${tables.join(", ")}`, config.requireEmbeddings ? ` (${config.numEmbeddings} embedding values per user and scope)` : "", "."),
      h("li", {}, "Media rooms may use it for: ", config.collaborationTypes.map((c) => COLLABORATION_WORDS[c] ?? c).join(", "), "."),
      h("li", {}, `Statistics leave out groups of fewer than ${formatCount(config.minimumGroupSize)} users and round the others to 50.`),
      h("li", {}, config.dropInvalidRows ? "Invalid and duplicate rows are dropped and counted in the validation report (never shown)." : "A file with an invalid row fails validation.")
    ),
    h(
      "table",
      { "data-identifiers": "" },
      h("caption", { class: "muted" }, "The identifiers file's columns, in order; the first is the user id."),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Identifier"),
        h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Used as")
      )),
      h("tbody", {}, ...config.identifiersConfig.map((c, index) => h(
        "tr",
        {},
        h("th", { scope: "row" }, h("code", {}, c.idName)),
        h("td", {}, c.idType),
        h("td", {}, [
          index === 0 ? "the user id" : "",
          c.isMatchingId ? "matched in media rooms" : "",
          c.isActivationId ? "delivered in exported audiences" : ""
        ].filter(Boolean).join("; ") || "–")
      )))
    )
  );
}
function datasets(page) {
  const byNode = new Map(page.published.map((p) => [p.node, p]));
  return h("div", {}, ...dataLabTables(page.config).map((name) => {
    const node = page.room.definition.nodes.find((n) => n.name === name);
    if (node && page.ownerOf.has(name)) return datasetCard(page.session, page.roomId, node, page.published);
    const current = byNode.get(name);
    return h(
      "p",
      { "data-dataset-node": name },
      `${DATASET_WORDS[name] ?? name}: `,
      current ? `provisioned by ${current.publisher}${current.validation ? ` — validation ${current.validation}` : ""}` : "not provisioned yet"
    );
  }));
}
function missingDatasets(page) {
  const published = new Set(page.published.map((p) => p.node));
  return dataLabTables(page.config).filter((node) => !published.has(node));
}
async function reportsOf(page) {
  const published = new Set(page.published.map((p) => p.node));
  const reports = {};
  for (const node of dataLabTables(page.config)) {
    if (published.has(node)) reports[node] = await page.session.validationReport(page.roomId, node);
  }
  return reports;
}
function validationSection(page) {
  if (!page.analystOf.has(STATUS)) return null;
  const out = h("div", {});
  const line = h("p", { "aria-live": "polite", class: "muted" });
  const button = h("button", { type: "button" }, "Check validation");
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(out);
    try {
      page.published = await getJson(`/v1/rooms/${page.roomId}/datasets`);
      const reports = await reportsOf(page);
      const validRows = /* @__PURE__ */ new Map();
      if (missingDatasets(page).length === 0) {
        line.textContent = "Counting the valid rows in the core…";
        const job = await page.session.run(page.roomId, STATUS);
        const result = await page.session.result(job, (s) => {
          line.textContent = `Counting the valid rows in the core: ${s}`;
        });
        for (const [node = "", rows = "0"] of result.table.rows) validRows.set(node, Number(rows));
      }
      const outcomes = new Map(Object.entries(reports).map(([node, body]) => [node, body["report"]?.["outcome"] ?? null]));
      line.textContent = "";
      replace(out, renderValidation(validationStatus(page.config, validRows, outcomes), reports));
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", `The validation status could not be read: ${errorText(error)}`));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { "data-section": "validation" },
    h("h2", {}, "Validation"),
    h("p", { class: "hint" }, "The core validates every dataset when it is published. The DataLab is validated when every dataset passed and the identifiers and segments kept rows."),
    button,
    line,
    out
  );
}
function renderValidation(status, reports) {
  const ok = status.status === "SUCCESS";
  return h(
    "div",
    { "data-validation-status": status.status },
    h(
      "p",
      {},
      h("span", { class: ok ? "verified" : "failed" }, ok ? "Validated" : "Not validated"),
      ok ? ": a media room can use this DataLab as its base audience." : ": provision the missing datasets, or fix the files that failed."
    ),
    h(
      "table",
      {},
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Dataset"),
        h("th", { scope: "col" }, "Validation"),
        h("th", { scope: "col", class: "num" }, "Valid rows"),
        h("th", { scope: "col" }, "Invalid rows by reason")
      )),
      h("tbody", {}, ...status.datasets.map((d) => {
        const byReason = reports[d.node]?.["report"]?.["numInvalidRowsByErrorCode"] ?? {};
        return h(
          "tr",
          { "data-dataset": d.node },
          h("th", { scope: "row" }, DATASET_WORDS[d.node] ?? d.node),
          h("td", {}, d.validation ?? "not provisioned"),
          h("td", { class: "num" }, d.validRows === null ? "–" : formatCount(d.validRows)),
          h("td", {}, Object.entries(byReason).map(([code, n]) => `${code}: ${formatCount(n)}`).join("; ") || "none")
        );
      }))
    )
  );
}
function statisticsSection(page) {
  if (!page.analystOf.has(STATISTICS)) return null;
  const out = h("div", { "data-result": STATISTICS });
  const line = h("p", { "aria-live": "polite", class: "muted" });
  const button = h("button", { type: "button" }, "Compute statistics");
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(out);
    try {
      page.published = await getJson(`/v1/rooms/${page.roomId}/datasets`);
      const missing = missingDatasets(page);
      if (missing.length) throw new Error(`provision every dataset first (${missing.map((n) => DATASET_WORDS[n] ?? n).join(", ")} not yet)`);
      line.textContent = "Computing the statistics in the core…";
      const job = await page.session.run(page.roomId, STATISTICS);
      const result = await page.session.result(job, (s) => {
        line.textContent = `Computing the statistics in the core: ${s}`;
      });
      const stats = assembleStatistics(page.config, statisticsRows(result.table.rows), await reportsOf(page));
      line.textContent = "The statistics, verified and decrypted in this browser.";
      replace(out, ...renderStatistics(page.config, stats));
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", `The statistics could not be computed: ${errorText(error)}`));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { "data-section": "statistics" },
    h("h2", {}, "Statistics"),
    h("p", { class: "hint" }, "Totals are exact; counts of users per group leave out groups under the minimum group size and are rounded to 50."),
    button,
    line,
    out
  );
}
function renderStatistics(config, stats) {
  const matching = config.identifiersConfig.slice(1).filter((c) => c.isMatchingId).map((c) => c.idName);
  const parts = [
    h("p", { "data-distinct-users": stats.distinctUsers }, `${formatCount(stats.distinctUsers)} distinct users.`),
    h(
      "table",
      { "data-totals": "" },
      h("caption", { class: "muted" }, "Rows of each dataset"),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Dataset"),
        h("th", { scope: "col", class: "num" }, "Rows"),
        h("th", { scope: "col", class: "num" }, "Valid"),
        h("th", { scope: "col", class: "num" }, "Invalid")
      )),
      h("tbody", {}, ...stats.datasets.map((d) => h(
        "tr",
        { "data-dataset": d.node },
        h("th", { scope: "row" }, DATASET_WORDS[d.node] ?? d.node),
        h("td", { class: "num", "data-field": "total_rows" }, formatCount(d.totalRows)),
        h("td", { class: "num", "data-field": "valid_rows" }, formatCount(d.validRows)),
        h("td", { class: "num", "data-field": "invalid_rows" }, formatCount(d.invalidRows))
      )))
    ),
    h(
      "table",
      { "data-identifier-statistics": "" },
      h("caption", { class: "muted" }, "Identifiers"),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Identifier"),
        h("th", { scope: "col", class: "num" }, "Distinct ids"),
        h("th", { scope: "col", class: "num" }, "Ids per user"),
        h("th", { scope: "col", class: "num" }, "Users per id (average, most)")
      )),
      h("tbody", {}, ...stats.identifiers.map((i) => h(
        "tr",
        { "data-identifier": i.name },
        h("th", { scope: "row" }, h("code", {}, i.name), ` (${i.idType})`),
        h("td", { class: "num", "data-field": "distinct_ids" }, formatCount(i.distinctIds)),
        h("td", { class: "num" }, String(i.avgIdsPerUser)),
        h("td", { class: "num" }, `${i.avgUsersPerId}, ${formatCount(i.maxUsersPerId)}`)
      )))
    ),
    ...stats.reachable.map((r) => h(
      "p",
      { "data-reachable": `${r.matchingId}:${r.activationId}` },
      `Through ${r.matchingId}, ${formatCount(r.count)} ${r.activationId} can be reached.`
    ))
  ];
  if (stats.segments) {
    const segments = stats.segments;
    parts.push(h(
      "table",
      { "data-segment-statistics": "" },
      h(
        "caption",
        { class: "muted" },
        `Users per segment: ${formatCount(segments.usersWithSegments)} users have segments, ${formatCount(segments.distinctSegments)} distinct segments`
      ),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Segment"),
        h("th", { scope: "col", class: "num" }, "Users"),
        h("th", { scope: "col", class: "num" }, "Share"),
        ...matching.map((m) => h("th", { scope: "col", class: "num" }, `Users with ${m}`))
      )),
      h("tbody", {}, ...segments.rows.map((row) => h(
        "tr",
        { "data-segment": row.segment },
        h("th", { scope: "row" }, row.segment),
        h("td", { class: "num", "data-field": "users" }, formatCount(row.all.absolute)),
        h("td", { class: "num" }, formatShare(row.all.relative)),
        ...matching.map((m) => h("td", { class: "num" }, formatCount(row.byMatchingId[m]?.absolute ?? 0)))
      )))
    ));
  }
  if (stats.demographics) {
    const demographics = stats.demographics;
    parts.push(h(
      "table",
      { "data-demographic-statistics": "" },
      h("caption", { class: "muted" }, `Users per age and gender: ${formatCount(demographics.usersWithDemographics)} users have demographics`),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Age"),
        h("th", { scope: "col" }, "Gender"),
        h("th", { scope: "col", class: "num" }, "Users"),
        h("th", { scope: "col", class: "num" }, "Share")
      )),
      h("tbody", {}, ...demographics.rows.map((row) => h(
        "tr",
        { "data-demographic": `${row.age}|${row.gender}` },
        h("td", {}, row.age || "unknown"),
        h("td", {}, row.gender || "unknown"),
        h("td", { class: "num", "data-field": "users" }, formatCount(row.users.absolute)),
        h("td", { class: "num" }, formatShare(row.users.relative))
      )))
    ));
  }
  if (stats.usersWithEmbeddings !== null) parts.push(h("p", {}, `${formatCount(stats.usersWithEmbeddings)} users have embeddings.`));
  return parts;
}

// src/pages/datasets.ts
async function mount5(table) {
  const session = await WebSession.open();
  for (const row of table.querySelectorAll("tr[data-dataset-id]")) {
    const place = row.querySelector("a[data-room-id]");
    const rowsCell = row.querySelector("[data-rows]");
    const columnsCell = row.querySelector("[data-columns]");
    const statisticsCell = row.querySelector("[data-statistics]");
    if (!place) {
      statisticsCell.textContent = "–";
      continue;
    }
    try {
      const roomId = place.dataset["roomId"];
      const node = place.dataset["node"];
      const room = await session.room(roomId);
      const definition = room.definition.nodes.find((n) => n.name === node);
      const columns = Array.isArray(definition?.["columns"]) ? definition["columns"] : [];
      columnsCell.textContent = columns.map((c) => `${c.name} (${c.format_type})`).join(", ") || "file";
      if (columns.length) {
        const report = (await session.validationReport(roomId, node))["report"];
        rowsCell.textContent = Number(report["numRowsTotal"]).toLocaleString("en");
        statisticsCell.append(statisticsControl(session, roomId, node, row.dataset["datasetId"]));
      } else {
        statisticsCell.textContent = "–";
      }
    } catch (error) {
      rowsCell.textContent = "?";
      rowsCell.title = errorText(error);
    }
  }
}
function statisticsControl(session, roomId, node, datasetId) {
  const details = h("details", {}, h("summary", {}, "Summary statistics"));
  const body = h("div", { "aria-live": "polite" }, "Loading…");
  details.append(body);
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const statistics = await session.statistics(roomId, node);
      const share2 = h("input", { type: "checkbox", id: `share-${datasetId}` });
      const shareLine = h("span", { "aria-live": "polite" });
      share2.addEventListener("change", async () => {
        try {
          await session.shareStatistics(roomId, node, datasetId, share2.checked);
          shareLine.textContent = share2.checked ? " Shared with the room's participants." : " No longer shared.";
        } catch (error) {
          share2.checked = !share2.checked;
          shareLine.textContent = ` ${errorText(error)}`;
        }
      });
      replace(
        body,
        renderStatistics2(statistics),
        h("p", {}, share2, " ", h("label", { for: `share-${datasetId}`, class: "inline" }, "Share these statistics with the room's participants"), shareLine)
      );
    } catch (error) {
      replace(body, errorText(error));
    }
  });
  return details;
}
function renderStatistics2(statistics) {
  const columns = statistics["columns"] ?? [];
  const rows = columns.map((c) => [
    c.name,
    c.type,
    String(c.empty),
    String(c.distinct),
    c.low !== void 0 ? `${String(c.low)} – ${String(c.high)}` : c.true !== void 0 ? `true ${c.true}, false ${c.false}` : "",
    (c.top ?? []).map((t) => `${t.value} (${t.count})`).join(", ")
  ]);
  return h(
    "div",
    { "data-statistics-rows": String(statistics["rows"]) },
    h("p", { class: "hint" }, `${Number(statistics["rows"]).toLocaleString("en")} rows. Values held by fewer than ${String(statistics["threshold"])} rows are never shown.`),
    dataTable(["Column", "Type", "Empty", "Distinct", "Range", "Most frequent"], rows)
  );
}

// src/pages/development.ts
var REQUEST_DRAFT_KEY = "sealroom:request-draft";
var LANGUAGES = [["sql", "SQL"], ["python", "Python"], ["r", "R"]];
var EXAMPLES = {
  sql: (inputs) => `SELECT COUNT(*) AS n
FROM ${inputs[0] ?? "a_table"}`,
  python: (inputs) => `# Inputs are mounted under /input/<name>/ (a table as dataset.csv); write results to /output.
import csv

with open("/input/${inputs[0] ?? "a_table"}/dataset.csv") as f:
    rows = list(csv.reader(f))
print("rows read:", len(rows))
with open("/output/result.csv", "w", newline="") as out:
    csv.writer(out).writerows([["rows"], [len(rows)]])
`,
  r: (inputs) => `# Inputs are mounted under /input/<name>/ (a table as dataset.csv); write results to /output.
rows <- read.csv("/input/${inputs[0] ?? "a_table"}/dataset.csv")
print(nrow(rows))
write.csv(data.frame(rows = nrow(rows)), "/output/result.csv", row.names = FALSE)
`
};
async function mount6(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const definition = room.definition;
    if (!definition.enable_development) {
      replace(section, notice(
        "info",
        "The development environment is not enabled in this room: its participants agreed not to ",
        "run computations other than the room's own. (An interactive room can still be changed through the Requests tab.)"
      ));
      return;
    }
    const available = availableData(definition, session.email);
    replace(section, workbench(session, room, available));
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
function workbench(session, room, available) {
  const language = languageSelect("dev-language");
  const name = h("input", { id: "dev-name", type: "text", value: "new_computation", autocomplete: "off", spellcheck: "false" });
  const editor = codeEditor("dev-code", 16);
  const browser = dataBrowser("dev-data", room.definition, available);
  const setExample = () => {
    editor.value = EXAMPLES[language.value](browser.chosen().length ? browser.chosen() : available.map((a) => a.node.name));
  };
  setExample();
  let edited = false;
  editor.addEventListener("input", () => {
    edited = true;
  });
  language.addEventListener("change", () => {
    if (!edited) setExample();
  });
  const run = h("button", { type: "button" }, "Run");
  const createRequest = h("button", { type: "button", class: "secondary" }, "Create request");
  const line = h("p", { "aria-live": "polite", "data-dev-status": "" });
  const out = h("div", { "data-dev-result": "" });
  run.addEventListener("click", async () => {
    run.setAttribute("disabled", "");
    replace(out);
    try {
      const kind = language.value;
      const dependencies = dependenciesFor(kind, editor.value, browser.chosen(), available);
      if (!dependencies.length) throw new Error('Choose the data the computation reads under "Available data".');
      const node = kind === "sql" ? { kind, name: name.value.trim(), query: editor.value, dependencies } : { kind, name: name.value.trim(), script: editor.value, dependencies, enable_logs_on_success: true, enable_logs_on_error: true };
      line.textContent = "Submitted…";
      const job = await runDevelopment2(session, room, node);
      const status = (s) => {
        line.textContent = `Development job ${job.jobId.slice(0, 12)}…: ${s}`;
      };
      if (kind === "sql") {
        const result = await session.result(job, status);
        const save = h("button", { type: "button", class: "secondary" }, "Download CSV");
        save.addEventListener("click", () => download(`${node.name}.csv`, result.csv, "text/csv"));
        replace(out, dataTable(result.table.columns, result.table.rows, `Result of ${node.name}`), save);
      } else {
        replace(out, showFiles(await scriptResult(session, job, room, status), node.name));
      }
      line.textContent = `Result of development job ${job.jobId.slice(0, 12)}…, verified and decrypted in this browser.`;
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", errorText(error)));
    } finally {
      run.removeAttribute("disabled");
    }
  });
  createRequest.addEventListener("click", () => {
    const kind = language.value;
    const draft = {
      kind,
      name: name.value.trim(),
      code: editor.value,
      dependencies: dependenciesFor(kind, editor.value, browser.chosen(), available)
    };
    sessionStorage.setItem(REQUEST_DRAFT_KEY, JSON.stringify(draft));
    window.location.assign(`/rooms/${room.roomId}/requests#draft`);
  });
  return h(
    "div",
    { class: "workbench" },
    h(
      "div",
      { class: "editor-pane" },
      h(
        "div",
        { class: "row" },
        h("div", {}, h("label", { for: "dev-language" }, "Language"), language),
        h("div", { class: "grow" }, h("label", { for: "dev-name" }, "Computation name"), name)
      ),
      h("label", { for: "dev-code" }, "Code"),
      editor,
      h(
        "p",
        { class: "hint", id: "dev-code-hint" },
        "Tab indents; press Esc, then Tab, to leave the editor. ",
        "SQL reads the tables it names; a Python or R script reads the inputs chosen under Available data, mounted at /input/<name>/."
      ),
      h("div", { class: "row" }, run, createRequest),
      line,
      out
    ),
    browser.element
  );
}
function languageSelect(id, value = "sql") {
  const select = h("select", { id }, ...LANGUAGES.map(([key, label]) => h("option", { value: key, selected: key === value }, label)));
  return select;
}
function codeEditor(id, rows) {
  const editor = h("textarea", {
    id,
    rows,
    class: "code-editor",
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    "aria-describedby": `${id}-hint`
  });
  let leaving = false;
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      leaving = true;
      return;
    }
    if (event.key === "Tab" && !event.shiftKey && !leaving && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      const { selectionStart: start2, selectionEnd: end, value } = editor;
      editor.value = `${value.slice(0, start2)}    ${value.slice(end)}`;
      editor.selectionStart = editor.selectionEnd = start2 + 4;
      editor.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    leaving = false;
  });
  editor.addEventListener("blur", () => {
    leaving = false;
  });
  return editor;
}
function dataBrowser(id, definition, available) {
  const boxes = [];
  const items = available.map(({ node, role }, index) => {
    const boxId = `${id}-${index}`;
    const box = h("input", { type: "checkbox", id: boxId, value: node.name, "data-available": node.name });
    boxes.push(box);
    const columns = columnsOf(node);
    const kind = node.kind === "table" ? "table" : node.kind === "raw" ? "file" : `${node.kind.toUpperCase()} result`;
    return h(
      "li",
      {},
      h("div", { class: "check" }, box, h("label", { for: boxId }, h("code", {}, node.name), " ", h("span", { class: "pill" }, kind))),
      h("p", { class: "hint" }, role === "owner" ? "Your data" : role === "analyst" ? "A result you may read" : DATA_KINDS.has(node.kind) ? "Another party's data: its owners approve" : "A computation of the room"),
      columns.length ? h(
        "ul",
        { class: "columns", "aria-label": `Columns of ${node.name}` },
        ...columns.map((c) => h("li", {}, h("code", {}, c.name), " ", h("span", { class: "muted" }, c.format_type.toLowerCase())))
      ) : null
    );
  });
  const others = definition.nodes.filter((n) => DATA_KINDS.has(n.kind) && !available.some((a) => a.node.name === n.name));
  const element = h(
    "aside",
    { class: "data-browser", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, "Available data"),
    available.length ? h("fieldset", {}, h("legend", {}, "Read by the computation"), h("ul", { class: "available" }, ...items)) : h("p", { class: "muted" }, "You may read nothing in this room: you own no dataset and are analyst of no computation."),
    others.length ? h("p", { class: "hint" }, `Not readable by you: ${others.map((n) => n.name).join(", ")} (other parties' data).`) : null
  );
  return {
    element,
    chosen: () => boxes.filter((b) => b.checked).map((b) => b.value),
    choose: (names) => {
      for (const b of boxes) b.checked = names.includes(b.value);
    }
  };
}
function dependenciesFor(kind, code, chosen, available) {
  const names = [...chosen];
  if (kind === "sql") {
    const words = new Set(code.toLowerCase().match(/[a-z_][a-z0-9_]*/g) ?? []);
    for (const { node } of available) if (words.has(node.name.toLowerCase()) && !names.includes(node.name)) names.push(node.name);
  }
  return names;
}
function showFiles(result, name) {
  const tables = tablesOf(result);
  const parts = [];
  if (!result.files.size) parts.push(h("p", { class: "muted" }, "The script wrote no file to /output."));
  for (const [file, data] of result.files) {
    const save = h("button", { type: "button", class: "secondary" }, `Download ${file}`);
    save.addEventListener("click", () => download(file.split("/").pop() ?? file, data, "application/octet-stream"));
    const table = tables.get(file);
    let body = null;
    if (table) body = dataTable(table.columns, table.rows);
    else if (data.length <= 2e5) {
      try {
        body = h("pre", { class: "output" }, fromUtf8(data));
      } catch {
        body = null;
      }
    }
    parts.push(h("div", { class: "card", "data-file": file }, h("h3", {}, h("code", {}, file)), body, save));
  }
  return h("div", { "aria-label": `Files written by ${name}` }, ...parts);
}

// src/media-members.ts
var MEMBER_NOTE = "sealroom.media v1 member ";
var ALL = ["VIEW_OVERLAP", "VIEW_INSIGHTS", "PROVIDE_SEED_AUDIENCE", "PROVIDE_BASE_AUDIENCE", "CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE", "MODEL_QUALITY", "MANAGE_USERS"];
var TABLE_OWNERS = {
  matching: ["PROVIDE_BASE_AUDIENCE"],
  segments: ["PROVIDE_BASE_AUDIENCE"],
  demographics: ["PROVIDE_BASE_AUDIENCE"],
  embeddings: ["PROVIDE_BASE_AUDIENCE"],
  audiences: ["PROVIDE_SEED_AUDIENCE"],
  custom_audiences: ["CREATE_CUSTOM_AUDIENCE"]
};
var ANALYSTS = {
  overlap_statistics: ["VIEW_OVERLAP"],
  insights: ["VIEW_INSIGHTS"],
  data_attributes: ["VIEW_INSIGHTS", "CREATE_CUSTOM_AUDIENCE"],
  seed_audience_list: ALL,
  custom_audience_list: ALL,
  audience_size: ["CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE"],
  audience_user_list: ["EXPORT_AUDIENCE"],
  lookalike_statistics: ["MODEL_QUALITY", "CREATE_CUSTOM_AUDIENCE"]
};
function noteOf(change) {
  return MEMBER_NOTE + compactJson({ group: change.group, email: change.email, permissions: change.permissions });
}
function newMemberProblem(groups, group, email, permissions) {
  const existing = groups.find((g) => g.emails.some((e) => sameEmail(e, email)));
  if (existing) return `${email} is already in participant group “${existing.role}”`;
  if (!permissions.length) return `${email}: give them at least one of the group's permissions`;
  const extra = permissions.filter((p) => !group.permissions.includes(p));
  if (extra.length) return `${email} cannot have ${extra.join(", ")}: group “${group.role}” does not have it`;
  return null;
}
function changeOf(note) {
  if (!note.startsWith(MEMBER_NOTE)) return null;
  try {
    const data = JSON.parse(note.slice(MEMBER_NOTE.length));
    const permissions = data["permissions"];
    if (typeof data["group"] !== "string" || typeof data["email"] !== "string" || !Array.isArray(permissions)) return null;
    if (!permissions.every((p) => typeof p === "string" && ALL.includes(p))) return null;
    return { group: data["group"], email: data["email"], permissions };
  } catch {
    return null;
  }
}
function memberRoles(definition, permissions) {
  const has = (needed) => (needed ?? []).some((p) => permissions.includes(p));
  const owns = [];
  const runs = [];
  for (const node of definition.nodes) {
    if (node.kind === "table" || node.kind === "raw") {
      if (has(TABLE_OWNERS[node.name])) owns.push(node.name);
    } else if (has(ANALYSTS[node.name])) {
      runs.push(node.name);
    }
  }
  return { owns, runs };
}
function permissionsOf(group, email) {
  for (const [member, permissions] of Object.entries(group.memberPermissions ?? {})) {
    if (sameEmail(member, email)) return permissions;
  }
  return group.permissions;
}
function mayManage(groups, requester, groupId) {
  const group = groups.find((g) => g.id === groupId);
  return !!group && group.emails.some((e) => sameEmail(e, requester)) && permissionsOf(group, requester).includes("MANAGE_USERS");
}
var sameSet = (a, b) => {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
};
function fits(change, before, commit) {
  if (commit.nodes.length || commit.identities.length) return false;
  const owners = commit.owners ?? [];
  const withdrawals = commit.withdrawals ?? [];
  if (!change.permissions.length) {
    const held = before.participants.find((p) => sameEmail(p.email, change.email));
    if (!held || commit.analysts.length || owners.length || withdrawals.length !== 1) return false;
    const w = withdrawals[0];
    return sameEmail(w.email, change.email) && sameSet(w.analyst_of ?? [], held.analyst_of) && sameSet(w.data_owner_of ?? [], held.data_owner_of) && !(held.permissions ?? []).length;
  }
  const isParticipant = sameEmail(before.owner, change.email) || before.participants.some((p) => sameEmail(p.email, change.email));
  if (withdrawals.length || isParticipant) return false;
  const { owns, runs } = memberRoles(before, change.permissions);
  const one = (grants, names) => names.length ? grants.length === 1 && sameEmail(grants[0].email, change.email) && sameSet(grants[0].names, names) : grants.length === 0;
  return one(commit.analysts.map((g) => ({ email: g.email, names: g.analyst_of })), runs) && one(owners.map((g) => ({ email: g.email, names: g.data_owner_of })), owns);
}
function currentGroups(config, published, commits) {
  let groups = config.participantGroups.map((g) => structuredClone(g));
  let definition = published;
  for (const commit of commits) {
    const change = changeOf(commit.note);
    if (change && mayManage(groups, commit.requester, change.group) && fits(change, definition, commit)) {
      groups = groups.map((g) => g.id === change.group ? changed2(g, change) : g);
    }
    definition = withCommit(definition, commit);
  }
  return groups;
}
function changed2(group, change) {
  const emails = group.emails.filter((e) => !sameEmail(e, change.email));
  const members = {};
  for (const [e, p] of Object.entries(group.memberPermissions ?? {})) if (!sameEmail(e, change.email)) members[e] = p;
  if (change.permissions.length) {
    emails.push(change.email);
    if (!sameSet(change.permissions, group.permissions)) members[change.email] = change.permissions;
  }
  const { memberPermissions: _, ...rest } = group;
  return Object.keys(members).length ? { ...rest, emails, memberPermissions: members } : { ...rest, emails };
}

// src/zip.ts
var MAX_ENTRY_BYTES = 512 * 1024 * 1024;
var END_OF_CENTRAL_DIRECTORY = 101010256;
var CENTRAL_FILE_HEADER = 33639248;
var LOCAL_FILE_HEADER = 67324752;
var STORED = 0;
var DEFLATED = 8;
var ZipError = class extends Error {
  constructor(message) {
    super(`the result archive cannot be read: ${message}`);
    this.name = "ZipError";
  }
};
function entries(archive) {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  let end = -1;
  for (let at2 = archive.length - 22; at2 >= Math.max(0, archive.length - 22 - 65535); at2--) {
    if (view.getUint32(at2, true) === END_OF_CENTRAL_DIRECTORY) {
      end = at2;
      break;
    }
  }
  if (end < 0) throw new ZipError("no end of central directory");
  const count = view.getUint16(end + 10, true);
  const directorySize = view.getUint32(end + 12, true);
  let at = view.getUint32(end + 16, true);
  if (count === 65535 || at === 4294967295 || at + directorySize > end) {
    throw new ZipError("ZIP64 archives are not read here");
  }
  const found = /* @__PURE__ */ new Map();
  const names = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || view.getUint32(at, true) !== CENTRAL_FILE_HEADER) throw new ZipError("a damaged central directory");
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const entry = {
      name: names.decode(archive.subarray(at + 46, at + 46 + nameLength)),
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localOffset: view.getUint32(at + 42, true)
    };
    found.set(entry.name, entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return found;
}
async function readZipEntry(archive, name) {
  const entry = entries(archive).get(name);
  if (!entry) return null;
  if (entry.flags & 1) throw new ZipError(`${name} is encrypted`);
  if (entry.size > MAX_ENTRY_BYTES) throw new ZipError(`${name} is larger than ${MAX_ENTRY_BYTES} bytes`);
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const local = entry.localOffset;
  if (local + 30 > archive.length || view.getUint32(local, true) !== LOCAL_FILE_HEADER) {
    throw new ZipError(`no local header for ${name}`);
  }
  const start2 = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const stop = start2 + entry.compressedSize;
  if (stop > archive.length) throw new ZipError(`${name} runs past the end of the archive`);
  const compressed = archive.slice(start2, stop);
  if (entry.method === STORED) return compressed;
  if (entry.method !== DEFLATED) throw new ZipError(`${name} uses compression method ${entry.method}`);
  return inflate2(compressed, entry.size, name);
}
async function inflate2(compressed, size, name) {
  const out = new Uint8Array(size);
  let filled = 0;
  const reader = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  try {
    for (; ; ) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > size) throw new ZipError(`${name} inflates to more than the archive says`);
      out.set(value, filled);
      filled += value.length;
    }
  } catch (error) {
    await reader.cancel().catch(() => void 0);
    if (error instanceof ZipError) throw error;
    throw new ZipError(`${name} is not valid deflate data`);
  } finally {
    reader.releaseLock();
  }
  if (filled !== size) throw new ZipError(`${name} inflates to less than the archive says`);
  return out;
}

// src/pages/media-run.ts
var BASE_TABLES = ["matching", "segments", "demographics", "embeddings"];
var SEED_TABLE = "audiences";
var CUSTOM_TABLE = "custom_audiences";
var OVERLAP = "overlap_statistics";
var INSIGHTS = "insights";
var SEED_LIST = "seed_audience_list";
var CUSTOM_LIST = "custom_audience_list";
var DATA_ATTRIBUTES = "data_attributes";
var AUDIENCE_SIZE = "audience_size";
var USER_LIST = "audience_user_list";
var LOOKALIKE = "lookalike_statistics";
async function runTable(page, node, status) {
  const job = await page.session.run(page.roomId, node);
  status(`Running ${node}…`);
  const result = await page.session.result(job, (s) => status(`Running ${node}: ${s}`));
  return result.table;
}
async function runRows(page, node, status) {
  const kind = page.room.definition.nodes.find((n) => n.name === node)?.kind;
  if (kind !== "python") return runTable(page, node, status);
  const file = await runEngineFile(page, node, {}, `${node}.json`, status);
  const released = JSON.parse(fromUtf8(file));
  const { columns, rows } = released;
  if (!Array.isArray(columns) || !Array.isArray(rows) || !rows.every(Array.isArray)) {
    throw new Error(`the result of ${node} has no rows`);
  }
  const cell = (value) => value === null || value === void 0 ? "" : String(value);
  return { columns: columns.map(cell), rows: rows.map((row) => row.map(cell)) };
}
async function runEngine(page, node, audience, name, status) {
  const parameters = { audience: audienceParameter(audience) };
  const declared = page.room.definition.nodes.find((n) => n.name === node)?.["parameters"];
  if (Array.isArray(declared) && declared.includes("activation_id")) parameters["activation_id"] = "";
  return runEngineFile(page, node, parameters, name, status);
}
async function runEngineFile(page, node, parameters, name, status) {
  const job = await page.session.run(page.roomId, node, parameters);
  status(`Running ${node}…`);
  let archive;
  try {
    archive = await page.session.resultBytes(job, "zip", (s) => status(`Running ${node}: ${s}`));
  } finally {
    page.charged?.();
  }
  const refusal = await readZipEntry(archive, REFUSAL_FILE);
  if (refusal) {
    const reason = JSON.parse(fromUtf8(refusal)).refused ?? "refused";
    throw new AudienceRefusedError(reason);
  }
  const file = await readZipEntry(archive, name);
  if (!file) throw new Error(`the result of ${node} has no ${name}`);
  return file;
}
function runner(label, work, attrs = {}) {
  const button = h("button", { type: "button", ...attrs }, label);
  const line = h("p", { "aria-live": "polite", class: "muted" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    line.classList.remove("error");
    try {
      await work((text) => {
        line.textContent = text;
      });
    } catch (error) {
      line.classList.add("error");
      line.setAttribute("role", "alert");
      line.textContent = errorText(error);
    } finally {
      button.disabled = false;
    }
  });
  return { button, line };
}

// src/pages/media-rules.ts
var counter = 0;
var nextId = (what) => `rule-${what}-${++counter}`;
function labelled(id, label, control) {
  return h("div", { "data-field": id }, h("label", { for: id }, label), control);
}
function sourceSelect(id, sources) {
  return h(
    "select",
    { id },
    ...sources.map((s) => h("option", { value: JSON.stringify(s.ref) }, s.label))
  );
}
function filterEditor(initialName, attributes) {
  let name = initialName;
  const offered = RULE_ATTRIBUTES.filter((a) => attributes.has(a));
  const rows = [];
  const list = h("div", { "data-filter-list": "" });
  const matchName = nextId("match");
  const all = h("input", { type: "radio", name: matchName, id: `${matchName}-all`, value: "AND", checked: true });
  const any = h("input", { type: "radio", name: matchName, id: `${matchName}-any`, value: "OR" });
  const match = h(
    "fieldset",
    { class: "hidden", "data-match": "" },
    h("legend", {}, "Keep the users who match"),
    h("div", { class: "check" }, all, h("label", { for: all.id }, "all of these filters")),
    h("div", { class: "check" }, any, h("label", { for: any.id }, "any of these filters"))
  );
  const add2 = h("button", { type: "button", class: "secondary" }, `Add a filter ${name}`);
  const sync = () => {
    add2.textContent = `Add a filter ${name}`;
    match.classList.toggle("hidden", rows.length < 2);
    rows.forEach((row, i) => {
      row.element.querySelector("legend").textContent = `Filter ${i + 1} ${name}`;
    });
  };
  add2.addEventListener("click", () => {
    const row = filterRow(attributes, offered, (gone) => {
      rows.splice(rows.indexOf(gone), 1);
      gone.element.remove();
      sync();
      add2.focus();
    });
    rows.push(row);
    list.append(row.element);
    sync();
    row.element.querySelector("select")?.focus();
  });
  if (offered.length === 0) {
    return {
      element: h("p", { class: "muted" }, "This room releases no attribute to filter on (its base audience has neither segments nor demographics)."),
      value: () => null,
      rename: () => void 0
    };
  }
  return {
    element: h("div", { "data-filters": "" }, list, match, add2),
    value: () => rows.length ? { booleanOp: any.checked ? "OR" : "AND", filters: rows.map((r) => r.value()) } : null,
    rename: (newName) => {
      name = newName;
      sync();
    }
  };
}
function filterRow(attributes, offered, remove) {
  const attributeId = nextId("attribute");
  const operatorId = nextId("operator");
  const attribute = h("select", { id: attributeId }, ...offered.map((a) => h("option", { value: a }, a)));
  const operator = h(
    "select",
    { id: operatorId },
    ...FILTER_OPERATORS.map((o) => h("option", { value: o }, FILTER_WORDS[o] ?? o))
  );
  const values = h("fieldset", { "data-values": "" });
  let boxes = [];
  const drawValues = () => {
    boxes = (attributes.get(attribute.value) ?? []).map((value) => h("input", { type: "checkbox", id: nextId("value"), value }));
    replace(
      values,
      h("legend", {}, `Values of ${attribute.value}`),
      ...boxes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, box.value)))
    );
  };
  const syncOperator = () => {
    values.classList.toggle("hidden", operator.value === "EMPTY" || operator.value === "NOT_EMPTY");
  };
  attribute.addEventListener("change", drawValues);
  operator.addEventListener("change", syncOperator);
  drawValues();
  syncOperator();
  const removeButton = h("button", { type: "button", class: "secondary" }, "Remove this filter");
  const row = {
    element: h(
      "fieldset",
      { "data-filter": "" },
      h("legend", {}, "Filter"),
      labelled(attributeId, "Attribute", attribute),
      labelled(operatorId, "Condition", operator),
      values,
      removeButton
    ),
    value: () => ({ attribute: attribute.value, operator: operator.value, values: boxes.filter((b) => b.checked).map((b) => b.value) })
  };
  removeButton.addEventListener("click", () => remove(row));
  return row;
}
function ruleFields(sources, attributes) {
  const sourceId = nextId("source");
  const source = sourceSelect(sourceId, sources);
  const filters = filterEditor("on the source", attributes);
  const steps = [];
  const list = h("div", { "data-steps": "" });
  const add2 = h("button", { type: "button", class: "secondary" }, "Add a combination");
  const renumber = () => steps.forEach((step, i) => {
    step.element.querySelector("legend").textContent = `Combination ${i + 1}`;
    step.filters.rename(`on combination ${i + 1}`);
  });
  add2.addEventListener("click", () => {
    const operatorId = nextId("combine");
    const otherId = nextId("other");
    const operator = h(
      "select",
      { id: operatorId },
      ...COMBINE_OPERATORS.map((o) => h("option", { value: o }, COMBINE_WORDS[o] ?? o))
    );
    const other = sourceSelect(otherId, sources);
    const stepFilters = filterEditor(`on combination ${steps.length + 1}`, attributes);
    const removeButton = h("button", { type: "button", class: "secondary" }, "Remove this combination");
    const step = {
      filters: stepFilters,
      element: h(
        "fieldset",
        { "data-step": "" },
        h("legend", {}, "Combination"),
        labelled(operatorId, "Then take the audience so far", operator),
        labelled(otherId, "Audience", other),
        stepFilters.element,
        removeButton
      ),
      value: () => ({ operator: operator.value, source: JSON.parse(other.value), filters: stepFilters.value() })
    };
    removeButton.addEventListener("click", () => {
      steps.splice(steps.indexOf(step), 1);
      step.element.remove();
      renumber();
      add2.focus();
    });
    steps.push(step);
    list.append(step.element);
    renumber();
    operator.focus();
  });
  return {
    element: h(
      "div",
      { "data-rule-based": "" },
      labelled(sourceId, "Start from", source),
      h(
        "fieldset",
        {},
        h("legend", {}, "Filters on the attributes the room releases"),
        h("p", { class: "hint" }, "Only values held by enough users to be released are offered. Without a filter, every user of the audience is kept."),
        filters.element
      ),
      h("fieldset", {}, h("legend", {}, "Combine with other audiences, in order"), list, add2)
    ),
    value: () => ({ source: JSON.parse(source.value), filters: filters.value(), combine: steps.map((s) => s.value()) })
  };
}

// src/pages/media-audiences.ts
async function loadSeed(page, status) {
  if (!page.published.some((p) => p.node === SEED_TABLE)) return [];
  return (await runTable(page, SEED_LIST, status)).rows.map(([type = "", size]) => ({ audienceType: type, size: countOf(size) }));
}
async function loadCustom(page, status) {
  if (!page.published.some((p) => p.node === CUSTOM_TABLE)) return [];
  return (await runTable(page, CUSTOM_LIST, status)).rows.map(customAudienceOf);
}
function audiencesSection(page) {
  const out = h("div", { "data-audiences": "" });
  const { button, line } = runner("Show audiences", async (status) => {
    const book = { seed: await loadSeed(page, status), all: await loadCustom(page, status), sizes: /* @__PURE__ */ new Map() };
    status("The audiences, verified and decrypted in this browser.");
    const draw = () => replace(out, ...audienceViews(page, book, status, async () => {
      book.all = await loadCustom(page, status);
      draw();
    }));
    draw();
  });
  return h(
    "section",
    { "data-section": "audiences" },
    h("h2", {}, "Audiences"),
    h(
      "p",
      { class: "hint" },
      "The seed audiences the advertiser provided, and the audiences built from them and the base audience. ",
      "Every participant can read every audience definition; sharing says which groups an audience is meant for."
    ),
    button,
    line,
    out
  );
}
function audienceViews(page, book, status, reload) {
  const names = new Map(book.all.map((a) => [a.id, a.name]));
  const mine = audiencesFor(page.group, book.all);
  const mayRun = (node, ...permissions) => page.nodes.has(node) && can(page.group, ...permissions);
  const maySize = mayRun(AUDIENCE_SIZE, "CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE");
  const mayExport = mayRun(USER_LIST, "EXPORT_AUDIENCE");
  const mayJudge = mayRun(LOOKALIKE, "MODEL_QUALITY", "CREATE_CUSTOM_AUDIENCE") && kindEnabled(page.config, "LOOKALIKE");
  const mayChange = page.nodes.has(CUSTOM_TABLE) && can(page.group, "CREATE_CUSTOM_AUDIENCE");
  const anyAction = maySize || mayExport || mayJudge || mayChange;
  const details = h("div", { "data-audience-details": "" });
  const rows = [
    { name: "All base users", ref: { kind: "BASE" }, what: "The publisher's whole base audience", lookalike: false },
    ...book.seed.map((seed) => ({
      name: seed.audienceType,
      ref: { kind: "SEED", audienceType: seed.audienceType },
      what: "Seed audience: the base users it matches" + (seed.size === null ? "" : ` (the advertiser provided ${formatCount(seed.size)} ids)`),
      lookalike: false
    })),
    ...mine.map((audience) => ({
      name: audience.name,
      ref: { kind: "CUSTOM", id: audience.id },
      what: `${definitionWords(audience.definition, names)} (by ${audience.createdBy}` + (audience.sharedWith.length ? `, shared with ${audience.sharedWith.map((g) => groupName(page.config, g)).join(", ")}` : "") + ")",
      lookalike: audience.definition["kind"] === "LOOKALIKE",
      own: audience.createdByGroup === page.group?.id ? audience : void 0
    }))
  ];
  const table = h(
    "table",
    { "data-audience-table": "" },
    h("caption", { class: "muted" }, "Sizes are counted in the core when you ask, and rounded as the room's privacy says."),
    h("thead", {}, h(
      "tr",
      {},
      h("th", { scope: "col" }, "Audience"),
      h("th", { scope: "col" }, "What it is"),
      h("th", { scope: "col", class: "num" }, "Size"),
      anyAction ? h("th", { scope: "col" }, "Actions") : null
    )),
    h("tbody", {}, ...rows.map((row) => {
      const size = h("td", { class: "num", "data-field": "size" }, "–");
      const showSize = (value) => {
        size.textContent = formatCount(value);
        size.dataset["value"] = value === null ? "" : String(value);
      };
      const known = book.sizes.get(audienceParameter(row.ref));
      if (known !== void 0) showSize(known);
      const buttons = [];
      if (maySize) {
        buttons.push(action(`Size`, `Size of ${row.name}`, status, async (say) => {
          const result = JSON.parse(fromUtf8(await runEngine(page, AUDIENCE_SIZE, row.ref, "audience_size.json", say)));
          book.sizes.set(audienceParameter(row.ref), result.size);
          showSize(result.size);
          say(`${row.name}: ${result.size === null ? `fewer than ${formatCount(page.config.privacy.minimumAudienceSize)} people (too small to release)` : `${formatCount(result.size)} people`}.`);
        }));
      }
      if (mayExport) {
        buttons.push(action("Export user list", `Export user list of ${row.name}`, status, async (say) => {
          const file = await runEngine(page, USER_LIST, row.ref, "audience_users.csv", say);
          const count = fromUtf8(file).split("\n").filter((l) => l !== "").length;
          download(`${row.name.replace(/[^\w.-]+/g, "_")}-users.csv`, file, "text/csv");
          say(`${row.name}: ${formatCount(count)} activation ids downloaded (decrypted in this browser only).`);
        }));
      }
      if (mayJudge && row.lookalike) {
        buttons.push(action("Model quality", `Model quality of ${row.name}`, status, async (say) => {
          const quality = JSON.parse(fromUtf8(await runEngine(page, LOOKALIKE, row.ref, "lookalike_audience.json", say)));
          replace(details, lookalikeQuality(row.name, quality));
          say(`${row.name}: the lookalike model's quality, below.`);
        }));
      }
      const own = row.own;
      if (mayChange && own) {
        buttons.push(action("Share", `Share ${row.name}`, status, async () => {
          replace(details, shareForm(page, own, status, reload));
          (details.querySelector("input:not([disabled])") ?? details.querySelector("button"))?.focus();
        }));
        buttons.push(action("Delete", `Delete ${row.name}`, status, async () => {
          replace(details, deleteForm(page, book, own, status, reload));
          details.querySelector("input, button")?.focus();
        }));
      }
      return h(
        "tr",
        { "data-audience": row.name },
        h("th", { scope: "row" }, row.name),
        h("td", {}, row.what),
        size,
        buttons.length ? h("td", { class: "nowrap" }, ...buttons.flatMap((b) => [b, " "])) : anyAction ? h("td", {}) : null
      );
    }))
  );
  const others = book.all.length - mine.length;
  return [
    table,
    others > 0 ? h("p", { class: "muted" }, `${others} more audience${others > 1 ? "s were" : " was"} made by other groups and not shared with yours.`) : null,
    details,
    createForm(page, book, status, reload)
  ];
}
function groupName(config, idOrRole) {
  return config.participantGroups.find((g) => g.id === idOrRole)?.role ?? idOrRole;
}
function mustHold(current, audience) {
  if (!current.some((a) => a.id === audience.id)) throw new Error(`the audience “${audience.name}” no longer exists: reload the audiences`);
}
function shareForm(page, audience, status, after) {
  const others = page.config.participantGroups.filter((g) => g.id !== page.group?.id);
  const already = (g) => audience.sharedWith.includes(g.id) || audience.sharedWith.includes(g.role);
  const boxes = others.map((g) => ({
    group: g,
    box: h("input", { type: "checkbox", id: `share-now-${g.id}`, checked: already(g), disabled: already(g) })
  }));
  const { button, line } = runner("Share now", async (say) => {
    const chosen = boxes.filter((b) => b.box.checked && !b.box.disabled).map((b) => b.group.id);
    if (chosen.length === 0) throw new Error("tick a group to share it with");
    await changeCustomAudiences(page, say, (current) => {
      mustHold(current, audience);
      return afterSharing(current, [audience.id], chosen, page.group.id);
    });
    await after();
    status(`Shared the audience “${audience.name}” with ${chosen.map((id) => groupName(page.config, id)).join(", ")}.`);
  }, { "data-confirm-share": audience.name });
  return h(
    "section",
    { class: "card", "data-share-audience": audience.name },
    h("h3", {}, `Share “${audience.name}”`),
    others.length ? h(
      "fieldset",
      {},
      h("legend", {}, "With the groups"),
      ...boxes.map((b) => h(
        "div",
        { class: "check" },
        b.box,
        h("label", { for: b.box.id }, b.group.role, already(b.group) ? " (already shared)" : "")
      ))
    ) : h("p", { class: "muted" }, "There is no other group to share it with."),
    h("p", { class: "hint" }, "Every participant can read every definition; sharing says which groups the audience is meant for, and shows it in their list."),
    button,
    line
  );
}
function deleteForm(page, book, audience, status, after) {
  const dependents = dependentsOf(book.all, audience.id);
  const theirs = dependents.filter((a) => a.createdByGroup !== page.group?.id);
  const withDependents = h("input", { type: "checkbox", id: "delete-with-dependents" });
  const { button, line } = runner("Delete now", async (say) => {
    let gone = 0;
    await changeCustomAudiences(page, say, (current) => {
      mustHold(current, audience);
      const remaining = afterDeleting(current, [audience.id], withDependents.checked, page.group.id);
      gone = current.length - remaining.length;
      return remaining;
    });
    await after();
    status(`Deleted the audience “${audience.name}”` + (gone > 1 ? ` and ${gone - 1} audience${gone > 2 ? "s" : ""} built on it.` : "."));
  }, { "data-confirm-delete": audience.name });
  return h(
    "section",
    { class: "card", "data-delete-audience": audience.name },
    h("h3", {}, `Delete “${audience.name}”`),
    dependents.length ? h(
      "div",
      {},
      h(
        "p",
        {},
        "These audiences are built on it: ",
        dependents.map((a) => `“${a.name}”${a.createdByGroup === page.group?.id ? "" : ` (of ${groupName(page.config, a.createdByGroup)})`}`).join(", "),
        "."
      ),
      theirs.length ? h("p", { class: "error" }, "Another group's audience is built on it: they must delete theirs first, so it cannot be deleted now.") : h("div", { class: "check" }, withDependents, h("label", { for: withDependents.id }, "Delete them too"))
    ) : h("p", {}, "No other audience is built on it."),
    theirs.length ? null : h("p", { class: "hint" }, "The room's audience definitions are published again without it. Sizes and user lists already exported stay where they are."),
    theirs.length ? null : button,
    line
  );
}
function action(label, accessibleName, status, work) {
  const button = h("button", { type: "button", class: "secondary", "aria-label": accessibleName }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await work(status);
    } catch (error) {
      status(`${accessibleName}: ${errorText(error)}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
function lookalikeQuality(name, quality) {
  const roc = quality["quality"]?.["roc_curve"];
  const activation = Object.entries(quality["activation_ids"] ?? {});
  return h(
    "div",
    { class: "card", "data-lookalike-quality": name },
    h("h3", {}, `Lookalike model: ${name}`),
    h(
      "ul",
      {},
      h("li", {}, `Source audience: ${formatCount(quality["seed_audience_size"] ?? null)} people.`),
      roc && typeof roc["auc"] === "number" ? h("li", { "data-auc": roc["auc"] }, `Area under the ROC curve on held-out users: ${roc["auc"].toFixed(3)} (0.5 is a guess, 1 is perfect).`) : h("li", {}, "No ROC curve is released in this room's privacy mode.")
    ),
    ...activation.map(([column, entry]) => h(
      "table",
      {},
      h("caption", { class: "muted" }, `${column}: addressable ${formatCount(entry["addressable_audience_size"] ?? null)}; the audience at each reach`),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col", class: "num" }, "Reach"),
        h("th", { scope: "col", class: "num" }, "Size"),
        h("th", { scope: "col", class: "num" }, "True positive rate"),
        h("th", { scope: "col", class: "num" }, "False positive rate")
      )),
      h("tbody", {}, ...(entry["filtered_audiences"] ?? []).map((f) => h(
        "tr",
        {},
        h("td", { class: "num" }, `${f["reach"]} %`),
        h("td", { class: "num" }, formatCount(f["size"] ?? null)),
        h("td", { class: "num" }, String(f["quality"]?.["roc_curve"]?.["tpr"] ?? "–")),
        h("td", { class: "num" }, String(f["quality"]?.["roc_curve"]?.["fpr"] ?? "–"))
      )))
    ))
  );
}
var KIND_WORDS = [
  ["REMARKETING", "Remarketing: the base users in a seed audience"],
  ["EXCLUSION_TARGETING", "Exclusion targeting: the base users not in a seed audience"],
  ["RULE_BASED", "Rule-based: filtered by segment, age or gender, and combined"],
  ["LOOKALIKE", "Lookalike: the base users most like an audience"]
];
function createForm(page, book, status, after) {
  if (!can(page.group, "CREATE_CUSTOM_AUDIENCE") || !page.nodes.has(CUSTOM_TABLE)) return null;
  const kinds = KIND_WORDS.filter(([kind2]) => kindEnabled(page.config, kind2));
  if (kinds.length === 0) return null;
  const field = (id, label, control, hint) => h("div", { "data-field": id }, h("label", { for: id }, label), control, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);
  const kind = h("select", { id: "audience-kind" }, ...kinds.map(([value, words]) => h("option", { value }, words)));
  const name = h("input", { id: "audience-name", type: "text", maxlength: 200, autocomplete: "off" });
  const seed = h(
    "select",
    { id: "audience-seed" },
    ...book.seed.map((s) => h("option", { value: s.audienceType }, s.audienceType))
  );
  const source = h(
    "select",
    { id: "audience-source" },
    ...book.seed.map((s) => h("option", { value: JSON.stringify({ kind: "SEED", audienceType: s.audienceType }) }, `Seed audience ${s.audienceType}`)),
    ...audiencesFor(page.group, book.all).map((a) => h("option", { value: JSON.stringify({ kind: "CUSTOM", id: a.id }) }, a.name))
  );
  const reach = h("input", { id: "audience-reach", type: "number", min: 1, max: 30, step: 1, value: 10, "aria-describedby": "audience-reach-hint" });
  const exclude = h("input", { id: "audience-exclude", type: "checkbox", checked: true });
  const others = page.config.participantGroups.filter((g) => g.id !== page.group?.id);
  const shares = others.map((g) => ({ group: g, box: h("input", { id: `share-${g.id}`, type: "checkbox" }) }));
  const seedField = field("audience-seed", "Seed audience", seed);
  const lookalikeFields = h(
    "div",
    {},
    field("audience-source", "Source audience", source),
    field("audience-reach", "Reach (percent of the base audience, 1 to 30)", reach, "The audience is this share of the base users most like the source."),
    h("div", { class: "check" }, exclude, h("label", { for: "audience-exclude" }, "Leave out the source audience's own users"))
  );
  const ruleHolder = h("div", { "data-rule-holder": "" });
  let rules = null;
  const ruleSources = [
    { label: "All base users", ref: { kind: "BASE" } },
    ...book.seed.map((s) => ({ label: `Seed audience ${s.audienceType}`, ref: { kind: "SEED", audienceType: s.audienceType } })),
    ...audiencesFor(page.group, book.all).map((a) => ({ label: a.name, ref: { kind: "CUSTOM", id: a.id } }))
  ];
  const showRules = async () => {
    if (rules) return;
    replace(ruleHolder, h("p", { class: "muted", role: "status" }, "Reading the attributes the room releases…"));
    try {
      book.attributes ??= page.nodes.has(DATA_ATTRIBUTES) ? runTable(page, DATA_ATTRIBUTES, () => void 0).then((table) => attributesOf(table.rows)) : Promise.resolve(/* @__PURE__ */ new Map());
      rules = ruleFields(ruleSources, await book.attributes);
      replace(ruleHolder, rules.element);
    } catch (error) {
      book.attributes = void 0;
      replace(ruleHolder, h("p", { class: "error", role: "alert" }, `The attributes could not be read: ${errorText(error)}`));
    }
  };
  const sync = () => {
    const lookalike = kind.value === "LOOKALIKE";
    const rule = kind.value === "RULE_BASED";
    seedField.classList.toggle("hidden", lookalike || rule);
    lookalikeFields.classList.toggle("hidden", !lookalike);
    ruleHolder.classList.toggle("hidden", !rule);
    if (rule) void showRules();
  };
  kind.addEventListener("change", sync);
  sync();
  const { button, line } = runner("Create audience", async (say) => {
    const draft = draftOf();
    const audience = {
      id: newAudienceId(),
      name: draft.name,
      createdBy: page.session.email,
      createdAt: createdAtNow(),
      sharedWith: draft.shareWith,
      definition: draft.definition,
      createdByGroup: page.group.id
    };
    await changeCustomAudiences(page, say, (current) => {
      if (current.some((a) => a.name === draft.name)) throw new Error(`an audience named “${draft.name}” exists: choose another name`);
      const known = new Set(current.map((a) => a.id));
      for (const id of dependsOn(draft.definition)) {
        if (!known.has(id)) throw new Error("the source audience no longer exists: reload the audiences");
      }
      return [...current, audience];
    });
    say(`Created the audience “${audience.name}”. Reading the audiences again…`);
    await after();
    status(`Created the audience “${audience.name}”.`);
  });
  const draftOf = () => {
    const text = name.value.trim();
    if (!text) throw new Error("give the audience a name");
    const shareWith = shares.filter((s) => s.box.checked).map((s) => s.group.id);
    if (kind.value === "RULE_BASED") {
      if (!rules) throw new Error("the attributes the room releases are still being read: try again in a moment");
      return { name: text, shareWith, definition: ruleBasedDefinition(rules.value()) };
    }
    if (kind.value === "LOOKALIKE") {
      const percent = Number(reach.value);
      if (!Number.isInteger(percent) || percent < 1 || percent > 30) throw new Error("the reach is a whole number of percent from 1 to 30");
      if (!source.value) throw new Error("choose a source audience");
      return { name: text, shareWith, definition: {
        kind: "LOOKALIKE",
        sourceRef: JSON.parse(source.value),
        reach: percent,
        excludeSeedAudience: exclude.checked
      } };
    }
    if (!seed.value) throw new Error("choose a seed audience (none is provisioned yet)");
    return { name: text, shareWith, definition: { kind: kind.value, seedAudienceRef: { audienceType: seed.value } } };
  };
  const form = h(
    "form",
    { class: "card", "data-create-audience": "", novalidate: true },
    h("h3", {}, "Create an audience"),
    field("audience-kind", "Kind", kind),
    field("audience-name", "Audience name", name),
    seedField,
    lookalikeFields,
    ruleHolder,
    shares.length ? h(
      "fieldset",
      {},
      h("legend", {}, "Share with"),
      ...shares.map((s) => h("div", { class: "check" }, s.box, h("label", { for: s.box.id }, s.group.role)))
    ) : null,
    h("p", { class: "hint" }, "The definitions are encrypted in this browser with a fresh key and published to the room; the core sizes and exports them."),
    button,
    line
  );
  button.type = "submit";
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}
async function writeCustomAudiences(page, audiences, replaces, say) {
  const text = audiences.map((a) => customAudienceRow(a).map(csvField).join(",") + "\n").join("");
  say("Encrypting the audience definitions in this browser and uploading them…");
  const uploaded = await encryptAndUpload(new Blob([text], { type: "text/csv" }), { headers: authHeaders(), name: "custom audiences" });
  say("Sealing the key to the attested core and publishing…");
  const published = await page.session.publishDataset(page.roomId, CUSTOM_TABLE, uploaded.datasetId, uploaded.key, false, replaces);
  const report = published["report"]?.["report"];
  if (published["published"] === false || report?.["outcome"] === "FAILED") {
    throw new Error("the core refused the new audience definitions (their validation failed); nothing changed");
  }
  page.published = page.published.filter((p) => p.node !== CUSTOM_TABLE);
  page.published.push({ node: CUSTOM_TABLE, dataset_id: uploaded.datasetId, publisher: page.session.email, published_at_ms: Date.now(), validation: report?.["outcome"] ?? null });
  const row = document.querySelector(`[data-provisioned] tr[data-table="${CUSTOM_TABLE}"]`);
  if (row) {
    row.setAttribute("data-published", "yes");
    row.querySelector("td").textContent = `Provisioned by ${page.session.email} just now` + (report?.["outcome"] ? ` — validation ${report["outcome"]}` : "");
  }
}
var CUSTOM_RETRIES = 5;
async function changeCustomAudiences(page, say, change) {
  for (let attempt = 0; attempt < CUSTOM_RETRIES; attempt++) {
    say("Reading the current audience definitions…");
    page.published = await getJson(`/v1/rooms/${page.roomId}/datasets`);
    const read = page.published.find((p) => p.node === CUSTOM_TABLE)?.dataset_id ?? "";
    const current = read ? await loadCustom(page, say) : [];
    try {
      await writeCustomAudiences(page, change(current), read, say);
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "dataset_changed")) throw error;
    }
  }
  throw new Error(`the audience definitions changed ${CUSTOM_RETRIES} times while this change was being made: try again`);
}
function csvField(value) {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

// src/pages/media-people.ts
var STATUS_WORDS = {
  pending: "waiting for approval",
  ready_to_integrate: "approved: ready to integrate"
};
function peopleSection(page, reopen) {
  if (!page.group || !page.room.definition.interactive) return null;
  const manages = page.group.permissions.includes("MANAGE_USERS");
  const mine = page.config.participantGroups.find((g) => g.id === page.group.id);
  const list = h("div", { "data-membership-requests": "" });
  const { button, line } = runner("Show membership requests", async (status) => {
    await showRequests(page, list, status, reopen);
  });
  return h(
    "section",
    { "data-section": "people" },
    h("h2", {}, "People"),
    h(
      "p",
      { class: "hint" },
      "People join and leave a group through requests of the room: an owner of each table approves them (the publisher and the advertisers), ",
      "then anyone integrates them. A request counts only when someone of that group who manages its people asks exactly for it."
    ),
    manages ? manageForms(page, mine) : null,
    h("h3", {}, "Membership requests"),
    button,
    line,
    list
  );
}
function manageForms(page, group) {
  const email = h("input", { id: "member-email", type: "email", autocomplete: "off", "aria-describedby": "member-email-hint" });
  const boxes = group.permissions.map((p) => ({
    permission: p,
    box: h("input", { type: "checkbox", id: `member-permission-${p}`, value: p })
  }));
  const asked = h("div", { "data-asked": "" });
  const add2 = runner("Ask to add", async (say) => {
    const address = email.value.trim();
    if (!address) throw new Error("give their e-mail address");
    const permissions = boxes.filter((b) => b.box.checked).map((b) => b.permission);
    const problem2 = newMemberProblem(page.config.participantGroups, group, address, permissions);
    if (problem2) throw new Error(problem2);
    const { owns, runs } = memberRoles(page.room.published, permissions);
    const change = { group: group.id, email: address, permissions };
    const input = { note: noteOf(change), computations: [], analysts: { [address]: runs }, owners: { [address]: owns } };
    const view = await ask(page, input, say);
    replace(asked, askedNotice(view, `${address} to join ${group.role}`));
    email.value = "";
    boxes.forEach((b) => {
      b.box.checked = false;
    });
  });
  const people = group.emails.map((person) => {
    const leave = runner(`Ask to remove ${person}`, async (say) => {
      const held = page.room.definition.participants.find((p) => sameEmail(p.email, person));
      if (!held) throw new Error(`${person} holds no role in this room`);
      const change = { group: group.id, email: person, permissions: [] };
      const input = {
        note: noteOf(change),
        computations: [],
        analysts: {},
        withdrawals: { [person]: { analyst_of: [...held.analyst_of], data_owner_of: [...held.data_owner_of] } }
      };
      const view = await ask(page, input, say);
      replace(asked, askedNotice(view, `${person} to leave ${group.role}`));
    }, { class: "secondary" });
    return h("li", { "data-member": person }, person, sameEmail(person, page.session.email) ? " (you)" : "", " ", leave.button, leave.line);
  });
  const form = h(
    "form",
    { class: "card", "data-add-member": "", novalidate: true },
    h("h3", {}, `Ask for someone to join ${group.role}`),
    h(
      "div",
      {},
      h("label", { for: email.id }, "E-mail address"),
      email,
      h("p", { class: "hint", id: "member-email-hint" }, "They sign in with this address; the room recognises them by the platform's certificate authority.")
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "With the permissions"),
      ...boxes.map((b) => h("div", { class: "check" }, b.box, h("label", { for: b.box.id }, permissionWords(b.permission))))
    ),
    add2.button,
    add2.line
  );
  add2.button.type = "submit";
  form.addEventListener("submit", (event) => event.preventDefault());
  return h(
    "div",
    {},
    form,
    h(
      "div",
      { class: "card" },
      h("h3", {}, `${group.role}'s people`),
      h("ul", { "data-members": "" }, ...people)
    ),
    asked
  );
}
async function ask(page, input, say) {
  say("Drafting the request and checking it in this browser…");
  const draft = await draftRequest(page.session, page.room, input);
  say("Signing and submitting it…");
  const view = await submitDraft(page.session, page.room, draft);
  say("Submitted.");
  return view;
}
function askedNotice(view, what) {
  const groups = view.groups ?? [];
  return notice(
    "ok",
    h("span", { "data-request": view.data.id }, `Asked for ${what}: request ${view.data.id.slice(0, 12)}. `),
    groups.length ? `An owner of each of these tables approves it: ${groups.map((g) => `${g.node} (${g.approvers.join(", ")})`).join("; ")}. Then anyone integrates it.` : "It affects no table: anyone may integrate it."
  );
}
function memberships(page, views) {
  const groups = page.config.participantGroups;
  const out = [];
  for (const view of views) {
    if (view.data.status !== "pending" && view.data.status !== "ready_to_integrate") continue;
    const change = changeOf(view.commit.note);
    if (!change) continue;
    const group = groups.find((g) => g.id === change.group) ?? null;
    const unsound = group === null ? "it names a group this room does not have" : !mayManage(groups, view.commit.requester, change.group) ? `${view.commit.requester} does not manage ${group.role}'s people` : view.commit.history_pin !== page.room.historyPin ? "it is built on an older history of the room" : !fits(change, page.room.definition, view.commit) ? "its commit does not do exactly what its note says" : null;
    out.push({ view, change, group, unsound });
  }
  return out;
}
async function showRequests(page, list, status, reopen) {
  status("Reading the room's requests and checking each in this browser…");
  const found = memberships(page, await listRequests(page.room));
  status(found.length ? `${found.length} pending membership request${found.length === 1 ? "" : "s"}, verified in this browser.` : "No pending membership request.");
  replace(list, ...found.map((m) => card(page, m, async (say) => showRequests(page, list, say, reopen), reopen, status)));
}
function card(page, m, refresh, reopen, status) {
  const { view, change } = m;
  const me = page.session.email.toLowerCase();
  const role = m.group?.role ?? change.group;
  const leaving = change.permissions.length === 0;
  const groups = view.groups ?? [];
  const approved = new Set(Object.keys(view.data.approvals).map((e) => e.toLowerCase()));
  const approver = groups.some((g) => g.approvers.some((e) => e.toLowerCase() === me));
  const buttons = [];
  const lines = [];
  const act = (label, action2, done) => {
    const { button, line } = runner(label, async (say) => {
      say(action2 === "approve" ? "Signing your approval…" : "Integrating…");
      await actOnRequest(page.session, page.room, view.data.id, action2);
      if (action2 === "integrate") {
        await reopen(`Integrated: ${change.email} ${leaving ? "left" : "joined"} ${role}. The groups above are the room's now.`);
        return;
      }
      await refresh(status);
      status(done);
    }, { "aria-label": `${label} the request for ${change.email} to ${leaving ? "leave" : "join"} ${role}` });
    buttons.push(button);
    lines.push(line);
  };
  if (m.unsound === null && view.data.status === "pending" && approver && !approved.has(me)) {
    act("Approve", "approve", `Approved the request for ${change.email}.`);
  }
  if (view.data.status === "ready_to_integrate") act("Integrate", "integrate", "");
  return h(
    "div",
    { class: "card", "data-membership": view.data.id, "data-sound": m.unsound === null ? "yes" : "no" },
    h("h4", {}, leaving ? `${change.email} leaves ${role}` : `${change.email} joins ${role}`),
    leaving ? h("p", {}, "Every role they hold in the room is withdrawn.") : h("p", {}, "With: ", change.permissions.map(permissionWords).join("; "), "."),
    h("p", {}, `Asked by ${view.commit.requester}; ${STATUS_WORDS[view.data.status] ?? view.data.status} (as the server reports).`),
    m.unsound === null ? h(
      "p",
      {},
      h("span", { class: "verified" }, "✓ Sound: "),
      `asked by someone of ${role} who manages its people, on the room's current history, and it does exactly what it says.`
    ) : h("p", { class: "error" }, `Not sound: ${m.unsound}. Do not approve it: reject it on the Requests tab.`),
    groups.length ? h("ul", {}, ...groups.map((g) => h("li", {}, `${g.node}: `, g.approvers.map((e) => `${e}${approved.has(e.toLowerCase()) ? " (approved)" : ""}`).join(", ")))) : null,
    buttons.length ? h("div", { class: "actions" }, ...buttons.flatMap((b) => [b, " "])) : null,
    ...lines
  );
}

// src/pages/media.ts
var TABLE_WORDS = {
  matching: "Base audience: identifiers",
  segments: "Base audience: segments",
  demographics: "Base audience: demographics",
  embeddings: "Base audience: embeddings",
  audiences: "Seed audiences",
  custom_audiences: "Audience definitions"
};
async function mount7(section) {
  await render(section, false);
}
async function render(section, fresh) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId, fresh);
    const agreed = mediaConfigOf(room.definition);
    const published = room.published;
    const commits = room.commits.map((c) => c.commit);
    const config = { ...agreed, participantGroups: currentGroups(agreed, published, commits) };
    const mine = groupOf(config, session.email);
    const page = {
      session,
      roomId,
      room,
      config,
      // What this person may do: their own permissions within their group.
      group: mine && { ...mine, permissions: permissionsOf(mine, session.email) },
      nodes: new Set(room.definition.nodes.map((node) => node.name)),
      published: await getJson(`/v1/rooms/${roomId}/datasets`)
    };
    replace(
      section,
      h(
        "div",
        { class: "card", "data-verified": "media" },
        h(
          "p",
          {},
          h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this configuration is part of the room's definition, which hashes to the room id and was signed by the attested core. ",
          "Nobody can change it after publication."
        ),
        h("p", {}, "Room id ", h("code", {}, roomId))
      ),
      h("h2", {}, "Configuration"),
      configuration2(config, page.group),
      h("h2", {}, "What is provisioned"),
      provisioned(page),
      budgetSection(page),
      h("h2", {}, "What your group can do"),
      yourGroup(page),
      overlapSection(page),
      insightsSection(page),
      audiencesSection(page),
      peopleSection(page, async (message) => {
        await render(section, true);
        const heading = section.querySelector("[data-section='people'] h2");
        heading?.after(notice("ok", message));
        heading?.scrollIntoView();
      })
    );
  } catch (error) {
    replace(section, notice("error", `This media clean room could not be shown: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
function configuration2(config, mine) {
  const privacy = config.privacy;
  const matching = config.baseAudience.identifiersConfig.filter((c) => c.isMatchingId && c.idType === config.matchingIdType);
  const activation = activationColumns(config);
  return h(
    "div",
    { "data-media-config": "" },
    h(
      "ul",
      {},
      h(
        "li",
        {},
        `Seed audiences are matched to the base audience on ${config.matchingIdType.toLowerCase().replace(/_/g, " ")}`,
        matching.length ? ` (the base audience's ${matching.map((c) => c.idName).join(", ")})` : "",
        "."
      ),
      h(
        "li",
        {},
        "Collaboration types: ",
        config.collaborationTypes.map((c) => COLLABORATION_WORDS[c] ?? c).join(", "),
        "."
      ),
      h("li", { "data-privacy": privacy.mode }, privacy.mode === "DIFFERENTIAL_PRIVACY" ? `Privacy: differential privacy. Every run of the overlap, insights, an audience size or lookalike statistics is a noisy count costing ε = ${privacy.epsilonPerRun} of the room's budget of ε = ${privacy.epsilonBudget}, and the core refuses runs past it.` : "Privacy: rounding. Sizes are rounded to the nearest 100, insight groups to the nearest 50."),
      h(
        "li",
        { "data-minimum-audience-size": privacy.minimumAudienceSize },
        `Minimum audience size: ${formatCount(privacy.minimumAudienceSize)}. An overlap or audience with fewer people is never released, neither its size nor its users.`
      ),
      h("li", {}, `Insight groups of fewer than ${formatCount(config.minimumGroupSize)} people are left out.`),
      config.showMatchRate ? h("li", {}, "The match rate (overlap / advertiser's audience) is shown.") : null,
      config.hideAbsoluteValuesFromInsights ? h("li", {}, "Insights show shares only, not sizes.") : null,
      h("li", {}, activation.length ? `Exported audiences are lists of ${activation.join(", ")}.` : "The base audience has no activation id: audiences cannot be exported.")
    ),
    h(
      "table",
      { "data-groups": "" },
      h("caption", { class: "muted" }, "Participant groups: the people of a group share its permissions."),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Group"),
        h("th", { scope: "col" }, "People"),
        h("th", { scope: "col" }, "May")
      )),
      h("tbody", {}, ...config.participantGroups.map((group) => h(
        "tr",
        { "data-group": group.role },
        h("th", { scope: "row" }, group.role, group.id === mine?.id ? h("span", { class: "pill" }, "your group") : null),
        h("td", {}, group.emails.map((email) => group.memberPermissions?.[email] ? `${email} (only: ${group.memberPermissions[email].map(permissionWords).join("; ")})` : email).join(", ")),
        h("td", {}, group.permissions.length ? group.permissions.map(permissionWords).join("; ") : "nothing")
      )))
    )
  );
}
function formatEpsilon(value) {
  return String(Number(value.toPrecision(6)));
}
function budgetSection(page) {
  if (page.config.privacy.mode !== "DIFFERENTIAL_PRIVACY") return null;
  const budget = page.room.definition.privacy?.["dp_epsilon_budget"];
  if (typeof budget !== "number") {
    return h(
      "section",
      { "data-section": "budget" },
      h("h2", {}, "Privacy budget"),
      notice("error", "This room's definition sets no privacy budget, though its configuration says differential privacy.")
    );
  }
  const out = h("div", { "data-budget": "" });
  const perRun = page.config.privacy.epsilonPerRun;
  const { button, line } = runner("Check the budget", async (status) => {
    status("Verifying the room's audit log in this browser…");
    const log = await verifyAuditLog(page.roomId, makeFetcher(authHeaders()), page.session.core);
    const spent = privacySpent(log.events);
    const remaining = Math.max(budget - spent.epsilon, 0);
    status(`Read from the room's audit log (${log.size} entries), verified in this browser.`);
    replace(
      out,
      h(
        "p",
        { "data-epsilon-budget": budget, "data-epsilon-spent": spent.epsilon, "data-epsilon-remaining": remaining, "data-charges": spent.charges },
        h("span", { class: "verified" }, "✓ "),
        `Spent ε = ${formatEpsilon(spent.epsilon)} of the room's budget of ε = ${formatEpsilon(budget)} `,
        `(${spent.charges} run${spent.charges === 1 ? "" : "s"} charged); remaining ε = ${formatEpsilon(remaining)}.`
      ),
      perRun !== null && spent.epsilon + perRun > budget ? h(
        "p",
        { class: "muted", "data-budget-exhausted": "" },
        `It cannot pay for another run of ε = ${formatEpsilon(perRun)}: the core refuses the overlap, insights, sizes and lookalike statistics from now on.`
      ) : null
    );
  });
  page.charged = () => button.click();
  queueMicrotask(() => button.click());
  return h(
    "section",
    { "data-section": "budget" },
    h("h2", {}, "Privacy budget"),
    h(
      "p",
      { class: "hint" },
      "Every run of the overlap, insights, an audience size or lookalike statistics is charged to the room's budget before it runs; the core refuses runs past it. ",
      "The figures are summed in this browser from the room's audit log, verified against the core's signed checkpoint, as the core sums them."
    ),
    button,
    line,
    out
  );
}
function provisioned(page) {
  const tables = [...BASE_TABLES, SEED_TABLE, CUSTOM_TABLE].filter((name) => page.nodes.has(name));
  const byNode = new Map(page.published.map((p) => [p.node, p]));
  const seedNode = page.room.definition.nodes.find((node) => node.name === SEED_TABLE);
  const mayProvideBase = can(page.group, "PROVIDE_BASE_AUDIENCE");
  return h(
    "div",
    {},
    h(
      "table",
      { "data-provisioned": "" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dataset"), h("th", { scope: "col" }, "Status"))),
      h("tbody", {}, ...tables.map((name) => {
        const current = byNode.get(name);
        return h(
          "tr",
          { "data-table": name, "data-published": current ? "yes" : "no" },
          h("th", { scope: "row" }, TABLE_WORDS[name] ?? name),
          h("td", {}, current ? `Provisioned by ${current.publisher} on ${new Date(current.published_at_ms).toISOString().slice(0, 16).replace("T", " ")} UTC` + (current.validation ? ` — validation ${current.validation}` : "") : "Not provisioned yet")
        );
      }))
    ),
    mayProvideBase && !byNode.has("matching") ? h(
      "p",
      { class: "hint" },
      "Your group provides the base audience: provision it from a validated DataLab with the SDK ",
      h("code", {}, "MediaDcr.provision_base_audience(data_lab_id, key)"),
      ", with the key the DataLab's files were encrypted with (it never leaves your machine)."
    ) : null,
    can(page.group, "PROVIDE_SEED_AUDIENCE") && seedNode ? h(
      "div",
      { "data-seed-upload": "" },
      h("h3", {}, "Your seed audiences"),
      h(
        "p",
        { class: "hint" },
        `A CSV file with two columns: the matching id (${page.config.matchingIdType}) and the audience type, one row per person and type. `,
        "The core checks every matching id; the file is encrypted in this browser."
      ),
      datasetCard(page.session, page.roomId, seedNode, page.published)
    ) : null
  );
}
function yourGroup(page) {
  if (!page.group) {
    return notice("info", "You are in none of this room's participant groups, so you may only read its configuration.");
  }
  return h(
    "p",
    { "data-your-group": page.group.role },
    `You are in the group “${page.group.role}”: you may `,
    page.group.permissions.map(permissionWords).join("; ") || "do nothing but read the configuration",
    "."
  );
}
function overlapSection(page) {
  if (!can(page.group, "VIEW_OVERLAP")) return null;
  if (!page.nodes.has(OVERLAP)) {
    return h(
      "section",
      {},
      h("h2", {}, "Overlap"),
      h("p", { class: "muted" }, "This room does not compute the overlap (a differential-privacy room made before the overlap was noised).")
    );
  }
  const out = h("div", { "data-result": OVERLAP });
  const activation = activationColumns(page.config);
  const showRate = page.config.showMatchRate;
  const minimum = page.config.privacy.minimumAudienceSize;
  const dp = page.config.privacy.mode === "DIFFERENTIAL_PRIVACY";
  const { button, line } = runner("Show overlap", async (status) => {
    replace(out);
    const rows = assembleOverlap((await runRows(page, OVERLAP, status)).rows, showRate);
    status(`The overlap, verified and decrypted in this browser (${rows.length} audience type${rows.length === 1 ? "" : "s"}).`);
    replace(out, h(
      "table",
      { "data-overlap": "" },
      h("caption", { class: "muted" }, `${dp ? "Noisy counts (differential privacy), rounded" : "Sizes rounded"} to 100; “too small” is under ${formatCount(minimum)} people.`),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, "Audience type"),
        h("th", { scope: "col", class: "num" }, "Advertiser size"),
        h("th", { scope: "col", class: "num" }, "Overlap"),
        showRate ? h("th", { scope: "col", class: "num" }, "Match rate") : null,
        ...activation.map((name) => h("th", { scope: "col", class: "num" }, `${name} in the overlap`))
      )),
      h("tbody", {}, ...rows.map((row) => h(
        "tr",
        { "data-audience-type": row.audienceType },
        h("th", { scope: "row" }, row.audienceType),
        h("td", { class: "num", "data-field": "advertiser_size" }, formatCount(row.advertiserSize)),
        h("td", { class: "num", "data-field": "overlap_size" }, formatCount(row.overlapSize)),
        showRate ? h("td", { class: "num", "data-field": "match_rate", "data-value": row.matchRate ?? "" }, formatShare(row.matchRate)) : null,
        ...activation.map((name) => h("td", { class: "num" }, formatCount(row.activationIds[name] ?? null)))
      )))
    ));
  });
  return h(
    "section",
    { "data-section": "overlap" },
    h("h2", {}, "Overlap"),
    h("p", { class: "hint" }, "How many people of each of the advertiser's seed audiences are in the publisher's base audience."),
    button,
    line,
    out
  );
}
function insightsSection(page) {
  if (!can(page.group, "VIEW_INSIGHTS") || !page.config.collaborationTypes.includes("INSIGHTS")) return null;
  if (!page.nodes.has(INSIGHTS)) {
    return h(
      "section",
      {},
      h("h2", {}, "Insights"),
      h("p", { class: "muted" }, "This room does not compute insights (a differential-privacy room made before insights were noised).")
    );
  }
  const out = h("div", { "data-result": INSIGHTS });
  const hide = page.config.hideAbsoluteValuesFromInsights;
  const { button, line } = runner("Show insights", async (status) => {
    replace(out);
    const insights = assembleInsights((await runRows(page, INSIGHTS, status)).rows, hide);
    status(insights.length ? "Insights, verified and decrypted in this browser." : "No insights: every overlap is below the minimum audience size.");
    if (insights.length === 0) return;
    const choice = h("select", { id: "insights-audience-type" });
    for (const entry of insights) choice.append(h("option", { value: entry.audienceType }, entry.audienceType));
    const tables = h("div", {});
    const show = () => {
      const entry = insights.find((i) => i.audienceType === choice.value) ?? insights[0];
      replace(tables, ...insightTables(entry, hide));
    };
    choice.addEventListener("change", show);
    replace(out, h("label", { for: "insights-audience-type" }, "Audience type"), choice, tables);
    show();
  });
  return h(
    "section",
    { "data-section": "insights" },
    h("h2", {}, "Insights"),
    h(
      "p",
      { class: "hint" },
      "What the overlap looks like next to the whole base audience: for each segment, age and gender, its share of the overlap and of the base. ",
      "Affinity is the overlap share over the base share: above 1, the audience is more likely to have it than the base."
    ),
    page.config.privacy.mode === "DIFFERENTIAL_PRIVACY" ? h(
      "p",
      { class: "hint", "data-noisy": "" },
      "In this room the counts are noisy (differential privacy), and each run is charged to the room's privacy budget."
    ) : null,
    button,
    line,
    out
  );
}
function insightTables(entry, hide) {
  return entry.aggregations.map(({ aggregation, rows }) => {
    const word = AGGREGATION_WORDS[aggregation] ?? aggregation;
    return h(
      "table",
      { "data-insights": aggregation, "data-audience-type": entry.audienceType },
      h("caption", { class: "muted" }, `${entry.audienceType}: by ${word.toLowerCase()}`),
      h("thead", {}, h(
        "tr",
        {},
        h("th", { scope: "col" }, word),
        hide ? null : h("th", { scope: "col", class: "num" }, "Overlap"),
        hide ? null : h("th", { scope: "col", class: "num" }, "Base"),
        h("th", { scope: "col", class: "num" }, "Share of overlap"),
        h("th", { scope: "col", class: "num" }, "Share of base"),
        h("th", { scope: "col", class: "num" }, "Affinity")
      )),
      h("tbody", {}, ...rows.map((row) => h(
        "tr",
        { "data-key": row.key },
        h("th", { scope: "row" }, aggregation === "age_gender" ? row.key.replace("|", ", ") : row.key),
        hide ? null : h("td", { class: "num", "data-field": "overlap_size" }, formatCount(row.overlapSize)),
        hide ? null : h("td", { class: "num", "data-field": "base_size" }, formatCount(row.baseSize)),
        h("td", { class: "num" }, formatShare(row.overlapShare)),
        h("td", { class: "num" }, formatShare(row.baseShare)),
        h(
          "td",
          { class: "num", "data-field": "affinity", "data-value": row.affinity ?? "" },
          row.affinity === null ? "–" : row.affinity.toFixed(2)
        )
      )))
    );
  });
}

// src/builder/sql.ts
function tokenize(sql) {
  const tokens = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    }
    if (c === "'") {
      i += 1;
      while (i < sql.length) {
        if (sql[i] === "'" && sql[i + 1] === "'") {
          i += 2;
          continue;
        }
        if (sql[i] === "'") break;
        i += 1;
      }
      i += 1;
      continue;
    }
    if (c === '"') {
      let text = "";
      i += 1;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') {
          text += '"';
          i += 2;
          continue;
        }
        if (sql[i] === '"') break;
        text += sql[i];
        i += 1;
      }
      i += 1;
      tokens.push({ kind: "quoted", text });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 200));
    if (word) {
      tokens.push({ kind: "word", text: word[0] });
      i += word[0].length;
      continue;
    }
    const number = /^[0-9][0-9.eE+-]*/.exec(sql.slice(i, i + 100));
    if (number) {
      i += number[0].length;
      continue;
    }
    tokens.push({ kind: "punct", text: c });
    i += 1;
  }
  return tokens;
}
var KEYWORDS = /* @__PURE__ */ new Set([
  "SELECT",
  "FROM",
  "WHERE",
  "GROUP",
  "ORDER",
  "BY",
  "HAVING",
  "LIMIT",
  "OFFSET",
  "FETCH",
  "UNION",
  "EXCEPT",
  "INTERSECT",
  "JOIN",
  "LEFT",
  "RIGHT",
  "INNER",
  "OUTER",
  "FULL",
  "CROSS",
  "NATURAL",
  "ON",
  "USING",
  "AS",
  "WINDOW",
  "QUALIFY",
  "LATERAL",
  "POSITIONAL",
  "ASOF",
  "ANTI",
  "SEMI",
  "SAMPLE",
  "TABLESAMPLE",
  "PIVOT",
  "UNPIVOT",
  "VALUES",
  "WITH",
  "RECURSIVE",
  "ALL",
  "DISTINCT",
  "AND",
  "OR",
  "NOT",
  "IN",
  "IS",
  "NULL",
  "CASE",
  "WHEN",
  "THEN",
  "ELSE",
  "END",
  "TABLE"
]);
function isName(token) {
  return token !== void 0 && (token.kind === "quoted" || token.kind === "word" && !KEYWORDS.has(token.text.toUpperCase()));
}
function cteNames(tokens) {
  const names = /* @__PURE__ */ new Set();
  tokens.forEach((token, index) => {
    const as = tokens[index + 1];
    const open = tokens[index + 2];
    if (isName(token) && as?.kind === "word" && as.text.toUpperCase() === "AS" && open?.text === "(") {
      names.add(token.text.toLowerCase());
    }
  });
  return names;
}
function tablesNamed(sql) {
  const tokens = tokenize(sql);
  const ctes = cteNames(tokens);
  const found = /* @__PURE__ */ new Map();
  tokens.forEach((token, index) => {
    if (token.kind !== "word" || !["FROM", "JOIN", "TABLE"].includes(token.text.toUpperCase())) return;
    let j = index + 1;
    for (; ; ) {
      const name = tokens[j];
      if (!isName(name)) break;
      if (tokens[j + 1]?.text === "(") break;
      while (tokens[j + 1]?.text === "." && isName(tokens[j + 2])) j += 2;
      const table = tokens[j].text;
      if (!ctes.has(table.toLowerCase()) && !found.has(table.toLowerCase())) found.set(table.toLowerCase(), table);
      j += 1;
      if (tokens[j]?.kind === "word" && tokens[j].text.toUpperCase() === "AS") j += 1;
      if (isName(tokens[j])) j += 1;
      if (tokens[j]?.text !== ",") break;
      j += 1;
    }
  });
  return [...found.values()];
}
function sqlName(name) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.has(name.toUpperCase()) ? name : `"${name.replaceAll('"', '""')}"`;
}

// src/builder/model.ts
var COMPUTE_KINDS = ["sql", "python", "r", "synthetic", "preview"];
var KIND_LABELS = {
  table: "Table",
  raw: "File",
  sql: "SQL",
  python: "Python",
  r: "R",
  synthetic: "Synthetic data",
  preview: "Preview (airlock)"
};
var FORMAT_TYPES = [
  "STRING",
  "INTEGER",
  "FLOAT",
  "DECIMAL",
  "BOOLEAN",
  "DATE",
  "DATE_ISO8601",
  "TIMESTAMP",
  "TIMESTAMP_TZ",
  "EMAIL",
  "PHONE_NUMBER_E164",
  "HASH_SHA256_HEX"
];
var NUMERIC_FORMATS = /* @__PURE__ */ new Set(["INTEGER", "FLOAT", "DECIMAL"]);
var MASK_TYPES = [
  "genericString",
  "genericNumber",
  "name",
  "address",
  "postcode",
  "phoneNumber",
  "socialSecurityNumber",
  "email",
  "date",
  "timestamp",
  "iban"
];
var counter2 = 0;
function nextUid() {
  counter2 += 1;
  return counter2;
}
function isNode(ref) {
  return !("dangling" in ref);
}
function refName(ref) {
  return isNode(ref) ? nodeName(ref) : ref.dangling;
}
function nodeName(node) {
  return typeof node.fields["name"] === "string" ? node.fields["name"] : "";
}
function isData(node) {
  return node.kind === "table" || node.kind === "raw";
}
function asObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
}
function asStrings(value) {
  return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
}
function emptyRoom() {
  return { fields: { format: "sealroom/room-definition", version: 2, name: "" }, nodes: [], people: [] };
}
function loadTemplate(text) {
  let document2;
  try {
    document2 = JSON.parse(text);
  } catch (error) {
    throw new Error(`the template is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (document2 === null || typeof document2 !== "object" || Array.isArray(document2)) {
    throw new Error("a template is a JSON object ({...})");
  }
  const fields = { ...document2 };
  const rawNodes = Array.isArray(fields["nodes"]) ? fields["nodes"] : [];
  const rawPeople = Array.isArray(fields["participants"]) ? fields["participants"] : [];
  delete fields["nodes"];
  delete fields["participants"];
  const nodes = rawNodes.map((item) => {
    const object = { ...asObject(item) };
    const kind = String(object["kind"] ?? "");
    delete object["kind"];
    return { uid: nextUid(), kind, fields: object, deps: [], derive: false };
  });
  const byName = /* @__PURE__ */ new Map();
  for (const node of nodes) if (!byName.has(nodeName(node))) byName.set(nodeName(node), node);
  const resolve = (name) => byName.get(name) ?? { dangling: name };
  for (const node of nodes) {
    if (Array.isArray(node.fields["dependencies"])) {
      node.deps = asStrings(node.fields["dependencies"]).map(resolve);
      delete node.fields["dependencies"];
    } else if (typeof node.fields["dependency"] === "string") {
      node.deps = [resolve(node.fields["dependency"])];
      delete node.fields["dependency"];
    }
    if (node.kind === "sql") {
      const named = derivedDependencies(node, nodes).map(refName).sort();
      node.derive = JSON.stringify(named) === JSON.stringify(node.deps.map(refName).sort());
    }
  }
  const people = rawPeople.map((item) => {
    const object = { ...asObject(item) };
    const person = {
      uid: nextUid(),
      fields: object,
      owns: asStrings(object["data_owner_of"]).map(resolve),
      analyses: asStrings(object["analyst_of"]).map(resolve),
      listed: new Set(["data_owner_of", "analyst_of"].filter((key) => key in object))
    };
    delete object["data_owner_of"];
    delete object["analyst_of"];
    return person;
  });
  return { fields, nodes, people };
}
function sqlReadable(node) {
  return ["table", "sql", "python", "r", "synthetic"].includes(node.kind);
}
function derivedDependencies(node, nodes) {
  const named = new Set(tablesNamed(String(node.fields["query"] ?? "")).map((name) => name.toLowerCase()));
  return nodes.filter((other) => other !== node && sqlReadable(other) && named.has(nodeName(other).toLowerCase()));
}
function unknownTables(node, nodes) {
  const known = new Set(nodes.filter((other) => other !== node).map((other) => nodeName(other).toLowerCase()));
  return tablesNamed(String(node.fields["query"] ?? "")).filter((name) => !known.has(name.toLowerCase()));
}
function effectiveDeps(node, room) {
  return node.kind === "sql" && node.derive ? derivedDependencies(node, room.nodes) : node.deps;
}
var TOP_ORDER = [
  "$schema",
  "format",
  "version",
  "name",
  "description",
  "owner",
  "nodes",
  "participants",
  "basic_permissions",
  "privacy",
  "interactive",
  "enable_development",
  "trust_roots",
  "identities"
];
var NODE_ORDER = [
  "kind",
  "name",
  "is_required",
  "columns",
  "unique_column_combinations",
  "drop_invalid_rows",
  "query",
  "script",
  "dependencies",
  "dependency",
  "additional_files",
  "epsilon",
  "model",
  "minimum_rows_count",
  "dp_epsilon",
  "dp_delta",
  "dp_max_rows_per_unit",
  "dp_bounds",
  "parameters",
  "quota_bytes"
];
var COLUMN_ORDER = ["name", "format_type", "is_nullable", "hash_with", "in_range", "precision", "scale"];
var PERSON_ORDER = ["email", "data_owner_of", "analyst_of", "permissions"];
function ordered(object, order) {
  const result = {};
  for (const key of order) if (key in object) result[key] = object[key];
  for (const [key, value] of Object.entries(object)) if (!(key in result)) result[key] = value;
  return result;
}
function toTemplate(room) {
  const nodeNames = (refs) => {
    const names = refs.map(refName);
    return names.filter((name, index) => names.indexOf(name) === index);
  };
  const nodes = room.nodes.map((node) => {
    const object = { kind: node.kind, ...node.fields };
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
    const object = { ...person.fields };
    if (person.owns.length || person.listed?.has("data_owner_of")) object["data_owner_of"] = nodeNames(person.owns);
    if (person.analyses.length || person.listed?.has("analyst_of")) object["analyst_of"] = nodeNames(person.analyses);
    return ordered(object, PERSON_ORDER);
  });
  const top = {
    interactive: false,
    enable_development: false,
    ...room.fields,
    nodes,
    participants
  };
  return ordered(top, TOP_ORDER);
}
function templateText(room) {
  return JSON.stringify(toTemplate(room), null, 2) + "\n";
}
function setField(fields, key, value, fallback = void 0) {
  if (value === void 0 || value === null || value === "" || value === fallback) delete fields[key];
  else fields[key] = value;
}
function removeNode(room, node) {
  room.nodes = room.nodes.filter((other) => other !== node);
  for (const other of room.nodes) other.deps = other.deps.filter((ref) => ref !== node);
  for (const person of room.people) {
    person.owns = person.owns.filter((ref) => ref !== node);
    person.analyses = person.analyses.filter((ref) => ref !== node);
  }
}
function removeColumn(room, table, index) {
  const columns = table.fields["columns"];
  columns.splice(index, 1);
  const combos = Array.isArray(table.fields["unique_column_combinations"]) ? table.fields["unique_column_combinations"] : [];
  const kept = combos.filter((combo) => !combo.includes(index)).map((combo) => combo.map((i) => i > index ? i - 1 : i));
  setField(table.fields, "unique_column_combinations", kept.length ? kept : null);
  for (const node of room.nodes) {
    if (node.kind !== "synthetic" || node.deps[0] !== table || !Array.isArray(node.fields["columns"])) continue;
    const masks = node.fields["columns"].filter((column) => column["index"] !== index).map((column) => Number(column["index"]) > index ? { ...column, index: Number(column["index"]) - 1 } : column);
    setField(node.fields, "columns", masks.length ? masks : null);
  }
}
var NODE_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9_ -]*[a-zA-Z0-9])$/;
var EMAIL = /^[^@\s,\x00-\x1f\x7f-\x9f]+@[^@\s,\x00-\x1f\x7f-\x9f]+$/;
var FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;
function isEmail(value) {
  return value.length <= 254 && EMAIL.test(value) && !/[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/.test(value);
}
function inRange(value, low, high, lowOpen, highOpen) {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  return (lowOpen ? value > low : value >= low) && (highOpen ? value < high : value <= high);
}
function inCycle(node, room) {
  const seen = /* @__PURE__ */ new Set();
  const stack = effectiveDeps(node, room).filter(isNode);
  while (stack.length) {
    const next = stack.pop();
    if (next === node) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...effectiveDeps(next, room).filter(isNode));
  }
  return false;
}
function problems(room) {
  const found = [];
  const add2 = (field, message) => {
    found.push({ field, message });
  };
  const name = String(room.fields["name"] ?? "");
  if (!name.trim()) add2("room-name", "Give the data clean room a name.");
  else if (name.length > 200) add2("room-name", "A name has at most 200 characters.");
  const seen = /* @__PURE__ */ new Map();
  const budget = asObject(room.fields["privacy"])["dp_epsilon_budget"];
  for (const node of room.nodes) {
    const id = `n${node.uid}`;
    const label = nodeName(node);
    if (!label) add2(`${id}-name`, "Give it a name.");
    else if (label.length > 100 || !NODE_NAME.test(label)) {
      add2(`${id}-name`, "Use letters, digits, _, - and spaces, starting with a letter and not ending with a space, _ or -.");
    } else if (seen.has(label.toLowerCase())) {
      add2(`${id}-name`, `Another dataset or computation is already named “${nodeName(seen.get(label.toLowerCase()))}” (names ignore case).`);
    }
    if (label) seen.set(label.toLowerCase(), seen.get(label.toLowerCase()) ?? node);
    if (node.kind === "table") checkTable(node, id, add2);
    if (node.kind === "sql") {
      const query = String(node.fields["query"] ?? "");
      if (!query.trim()) add2(`${id}-query`, "Write the query.");
      const unknown = unknownTables(node, room.nodes);
      if (unknown.length) add2(`${id}-query`, `The query reads ${unknown.map((t) => `“${t}”`).join(", ")}, which this room has no dataset or computation of.`);
      if (!node.derive) {
        const chosen = new Set(node.deps.map((ref) => refName(ref).toLowerCase()));
        const missing = derivedDependencies(node, room.nodes).filter((dep) => !chosen.has(nodeName(dep).toLowerCase()));
        if (missing.length) add2(`${id}-deps`, `The query reads ${missing.map((dep) => `“${nodeName(dep)}”`).join(", ")}: tick it as an input.`);
      }
      const minimum = node.fields["minimum_rows_count"];
      if (minimum != null && !(Number.isInteger(minimum) && inRange(minimum, 2, 1e5, false, false))) {
        add2(`${id}-minimum`, "The privacy filter minimum is a whole number from 2 to 100,000.");
      }
      const epsilon = node.fields["dp_epsilon"];
      if (epsilon != null) {
        if (!inRange(epsilon, 0, 10, true, false)) add2(`${id}-epsilon`, "ε is more than 0 and at most 10.");
        if (budget === void 0 || budget === null) add2(`${id}-epsilon`, "Differential privacy needs the room's privacy budget ε (Room privacy settings).");
      }
      const delta = node.fields["dp_delta"];
      if (delta != null && !inRange(delta, 0, 1e-3, true, true)) add2(`${id}-delta`, "δ is more than 0 and less than 0.001.");
      if (minimum != null || epsilon != null) {
        const notTables = effectiveDeps(node, room).filter((dep) => isNode(dep) && dep.kind !== "table");
        if (notTables.length) add2(`${id}-privacy`, `Privacy settings protect rows of tables as published: ${notTables.map((dep) => `“${refName(dep)}”`).join(", ")} is a computation (compute it in a CTE of this query instead).`);
      }
    }
    if (node.kind === "python" || node.kind === "r") {
      if (!String(node.fields["script"] ?? "").trim()) add2(`${id}-script`, "Write the script.");
      const files = Array.isArray(node.fields["additional_files"]) ? node.fields["additional_files"] : [];
      const main = node.kind === "python" ? "main.py" : "main.R";
      files.forEach((file, index) => {
        const fileName = String(file["name"] ?? "");
        if (!FILE_NAME.test(fileName)) add2(`${id}-f${index}-name`, "A file name uses letters, digits, ., _ and - (up to 100), not starting with . or -.");
        else if (fileName === main) add2(`${id}-f${index}-name`, `${main} is the script itself: choose another name.`);
        else if (files.findIndex((other) => other["name"] === fileName) !== index) add2(`${id}-f${index}-name`, "Two files have this name.");
      });
    }
    if (node.kind === "synthetic") {
      if (!node.deps[0]) add2(`${id}-source`, "Choose the table to synthesise.");
      if (!inRange(node.fields["epsilon"], 0, 100, true, false)) add2(`${id}-epsilon`, "ε is more than 0 and at most 100.");
      if (budget === void 0 || budget === null) add2(`${id}-epsilon`, "Synthetic data needs the room's privacy budget ε (Room privacy settings).");
    }
    if (node.kind === "preview" && !node.deps[0]) add2(`${id}-source`, "Choose the computation it previews.");
    if (!isData(node) && inCycle(node, room)) add2(`${id}-name`, "This computation depends on itself through its inputs.");
  }
  const emails = /* @__PURE__ */ new Set();
  for (const person of room.people) {
    const email = String(person.fields["email"] ?? "").trim();
    if (!isEmail(email)) add2(`p${person.uid}-email`, "Type an e-mail address, like ann@bank.example.");
    else if (emails.has(email.toLowerCase())) add2(`p${person.uid}-email`, "This participant is listed twice.");
    emails.add(email.toLowerCase());
  }
  const privacy = asObject(room.fields["privacy"]);
  if (privacy["dp_epsilon_budget"] != null && !inRange(privacy["dp_epsilon_budget"], 0, 1e3, true, false)) {
    add2("privacy-budget", "The budget ε is more than 0 and at most 1000.");
  }
  if (privacy["dp_delta_budget"] != null && !inRange(privacy["dp_delta_budget"], 0, 0.01, true, true)) {
    add2("privacy-delta", "The budget δ is more than 0 and less than 0.01.");
  }
  return found;
}
function checkTable(node, id, add2) {
  const columns = Array.isArray(node.fields["columns"]) ? node.fields["columns"] : [];
  if (columns.length === 0) add2(`${id}-columns`, "A table has at least one column: Add column.");
  const names = /* @__PURE__ */ new Set();
  columns.forEach((column, index) => {
    const cid = `${id}-c${index}`;
    const columnName = String(column["name"] ?? "");
    if (!columnName) add2(`${cid}-name`, "Name the column.");
    else if (columnName.length > 128) add2(`${cid}-name`, "A column name has at most 128 characters.");
    else if (names.has(columnName)) add2(`${cid}-name`, "Two columns have this name.");
    names.add(columnName);
    if (column["format_type"] === "DECIMAL") {
      const precision = column["precision"];
      const scale = column["scale"];
      if (!(Number.isInteger(precision) && inRange(precision, 1, 38, false, false))) add2(`${cid}-precision`, "Precision is 1 to 38 digits.");
      else if (!(Number.isInteger(scale) && inRange(scale, 0, Number(precision), false, false))) add2(`${cid}-scale`, `Scale is 0 to the precision (${String(precision)}).`);
    }
    const range2 = asObject(column["in_range"]);
    const low = range2["greater_than"] ?? range2["greater_than_equals"];
    const high = range2["less_than"] ?? range2["less_than_equals"];
    if (typeof low === "number" && typeof high === "number" && low > high) add2(`${cid}-high`, "The upper bound is below the lower bound.");
  });
}

// src/pages/builder.ts
function mountBuilder(container, initial, onChange) {
  let room;
  try {
    room = initial && initial.trim() ? loadTemplate(initial) : emptyRoom();
  } catch (error) {
    replace(container, notice("error", `This template cannot be edited in the form: ${error instanceof Error ? error.message : String(error)}. Correct it in the JSON view.`));
    return;
  }
  const root = h("div", { class: "builder" });
  replace(container, root);
  new Builder(root, room, onChange).start();
}
var Builder = class {
  constructor(container, room, onChange) {
    this.container = container;
    this.room = room;
    this.onChange = onChange;
  }
  container;
  room;
  onChange;
  errors = /* @__PURE__ */ new Map();
  controls = /* @__PURE__ */ new Map();
  derived = [];
  privacyModes = /* @__PURE__ */ new Map();
  summary = h("div");
  start() {
    this.container.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.key === "Enter" && target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)) {
        event.preventDefault();
        if (target.id === "b-new-email") this.addParticipant();
      }
    });
    for (const node of this.room.nodes) {
      if (node.kind === "sql") {
        this.privacyModes.set(node.uid, node.fields["dp_epsilon"] != null ? "dp" : node.fields["minimum_rows_count"] != null ? "filter" : "none");
      }
    }
    this.render();
    this.changed();
  }
  // -- the loop: change → template, messages, names ------------------------------------------
  changed() {
    this.onChange(templateText(this.room));
    this.refreshDerived();
    this.showProblems();
  }
  render(focusId) {
    const active = focusId ?? (document.activeElement instanceof HTMLElement && this.container.contains(document.activeElement) ? document.activeElement.id : "");
    this.errors.clear();
    this.controls.clear();
    this.derived = [];
    clear(this.container);
    this.summary = h("div", { class: "builder-summary", role: "status", "data-builder-problems": "0" });
    this.container.append(this.roomPart(), this.datasetsPart(), this.computationsPart(), this.permissionsPart(), this.summary);
    this.refreshDerived();
    this.showProblems();
    if (active) document.getElementById(active)?.focus();
  }
  refreshDerived() {
    for (const part of this.derived) {
      const focused = document.activeElement instanceof HTMLElement && part.element.contains(document.activeElement) ? document.activeElement.id : "";
      for (const key of [...this.errors.keys()]) if (!this.errors.get(key).isConnected) this.errors.delete(key);
      replace(part.element, ...part.fill());
      if (focused) document.getElementById(focused)?.focus();
    }
  }
  showProblems() {
    const found = [...problems(this.room), ...this.formProblems()];
    const byField = /* @__PURE__ */ new Map();
    for (const problem2 of found) byField.set(problem2.field, [...byField.get(problem2.field) ?? [], problem2.message]);
    for (const [field, slot] of this.errors) {
      const messages = byField.get(field) ?? [];
      replace(slot, messages.join(" "));
      slot.classList.toggle("hidden", messages.length === 0);
      const control = this.controls.get(field);
      if (control) {
        if (messages.length) control.setAttribute("aria-invalid", "true");
        else control.removeAttribute("aria-invalid");
      }
    }
    const unplaced = found.filter((problem2) => !this.errors.has(problem2.field));
    this.summary.dataset["builderProblems"] = String(found.length);
    replace(
      this.summary,
      found.length === 0 ? h("p", { class: "verified" }, "✓ Nothing to fix in the form. Continue: the server checks the template, then test all computations.") : h("p", { class: "error" }, found.length === 1 ? "1 thing to fix (see the message next to the field)." : `${found.length} things to fix (see the messages next to the fields).`),
      unplaced.length ? h("ul", {}, ...unplaced.map((problem2) => h("li", {}, problem2.message))) : null
    );
  }
  /** Problems only the form knows: a privacy setting chosen but not filled in. */
  formProblems() {
    const found = [];
    for (const node of this.room.nodes) {
      const mode = this.privacyModes.get(node.uid);
      if (mode === "filter" && node.fields["minimum_rows_count"] == null) found.push({ field: `n${node.uid}-minimum`, message: "Type the minimum number of rows, or choose no privacy filter." });
      if (mode === "dp" && node.fields["dp_epsilon"] == null) found.push({ field: `n${node.uid}-epsilon`, message: "Type ε, or choose no differential privacy." });
    }
    return found;
  }
  // -- controls ------------------------------------------------------------------------------
  errorSlot(key) {
    const slot = h("p", { id: `b-${key}-error`, class: "field-error hidden" });
    this.errors.set(key, slot);
    return slot;
  }
  describe(control, key, hint) {
    this.controls.set(key, control);
    const slot = this.errorSlot(key);
    control.setAttribute("aria-describedby", [hint?.id, slot.id].filter(Boolean).join(" "));
    return slot;
  }
  textField(key, label, value, onValue, options = {}) {
    const id = `b-${key}`;
    const control = options.multiline ? h("textarea", { id, rows: options.rows ?? 6, spellcheck: "false", placeholder: options.placeholder ?? null, maxlength: options.max ?? null }) : h("input", { id, type: options.type ?? "text", placeholder: options.placeholder ?? null, maxlength: options.max ?? null, autocomplete: "off" });
    control.value = value;
    control.addEventListener("input", () => {
      onValue(control.value);
      this.changed();
    });
    const hint = options.hint ? h("p", { class: "hint", id: `${id}-hint` }, options.hint) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }
  numberField(key, label, value, onValue, options = {}) {
    const id = `b-${key}`;
    const control = h("input", {
      id,
      type: "number",
      step: options.step ?? (options.integer ? "1" : "any"),
      min: options.min ?? null,
      max: options.max ?? null,
      inputmode: options.integer ? "numeric" : "decimal",
      class: "builder-number"
    });
    control.value = typeof value === "number" ? String(value) : "";
    control.addEventListener("input", () => {
      const number = control.value.trim() === "" ? null : Number(control.value);
      onValue(number !== null && Number.isFinite(number) ? number : null);
      this.changed();
    });
    const hint = options.hint ? h("p", { class: "hint", id: `${id}-hint` }, options.hint) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }
  checkbox(key, label, checked, onValue, hintText) {
    const id = `b-${key}`;
    const control = h("input", { id, type: "checkbox" });
    control.checked = checked;
    control.addEventListener("change", () => {
      onValue(control.checked);
      this.changed();
    });
    const hint = hintText ? h("span", { class: "hint", id: `${id}-hint` }, hintText) : null;
    if (hint) control.setAttribute("aria-describedby", hint.id);
    return h("div", { class: "builder-check" }, h("label", { for: id, class: "inline" }, control, " ", ...Array.isArray(label) ? label : [label]), hint);
  }
  select(key, label, options, current, onValue, hintText) {
    const id = `b-${key}`;
    const control = h("select", { id }, ...options.map(([value, text]) => {
      const option = h("option", { value }, text);
      option.selected = value === current;
      return option;
    }));
    control.addEventListener("change", () => {
      onValue(control.value);
      this.changed();
    });
    const hint = hintText ? h("p", { class: "hint", id: `${id}-hint` }, hintText) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }
  button(text, onClick, attrs = {}) {
    const button = h("button", { type: "button", class: "secondary", ...attrs }, ...Array.isArray(text) ? text : [text]);
    button.addEventListener("click", onClick);
    return button;
  }
  derivedPart(tag, attrs, fill) {
    const element = h(tag, attrs);
    this.derived.push({ element, fill });
    return element;
  }
  // -- the room ----------------------------------------------------------------------------
  roomPart() {
    const fields = this.room.fields;
    const owner = typeof fields["owner"] === "string" ? fields["owner"] : null;
    return h(
      "fieldset",
      { class: "builder-room" },
      h("legend", {}, "Data clean room"),
      this.textField(
        "room-name",
        "Name",
        String(fields["name"] ?? ""),
        (value) => {
          fields["name"] = value;
        },
        { max: 200, placeholder: "Confidential computing overlap" }
      ),
      this.textField(
        "room-description",
        "Description (optional)",
        String(fields["description"] ?? ""),
        (value) => setField(fields, "description", value),
        { multiline: true, rows: 2, max: 5e3 }
      ),
      h("p", { class: "hint" }, owner ? `Owner: ${owner}.` : "Owner: you, the person who publishes it.")
    );
  }
  // -- datasets ----------------------------------------------------------------------------
  datasetsPart() {
    const data = this.room.nodes.filter(isData);
    return h(
      "section",
      { class: "builder-section", "aria-labelledby": "b-datasets-heading" },
      h("h2", { id: "b-datasets-heading" }, "Datasets"),
      h("p", { class: "hint" }, "What the data owners provision: tables (CSV, validated against the columns below) and files (JSON, TXT, ZIP, …)."),
      data.length ? null : h("p", { class: "muted" }, "No datasets yet."),
      ...data.map((node) => this.dataNode(node)),
      h(
        "div",
        { class: "row builder-toolbar" },
        this.button("Add table", () => this.addNode("table"), { id: "b-add-table" }),
        this.button("Add file", () => this.addNode("raw"), { id: "b-add-file" })
      )
    );
  }
  addNode(kind) {
    const fields = { name: "" };
    if (kind === "table") Object.assign(fields, { is_required: true, columns: [{ name: "", format_type: "STRING" }] });
    if (kind === "raw") fields["is_required"] = true;
    if (kind === "sql") fields["query"] = "";
    if (kind === "python" || kind === "r") fields["script"] = "";
    if (kind === "synthetic") fields["epsilon"] = 1;
    const node = { uid: nextUid(), kind, fields, deps: [], derive: kind === "sql" };
    if (kind === "sql") this.privacyModes.set(node.uid, "none");
    if (kind === "synthetic") {
      const table = this.room.nodes.find((other) => other.kind === "table");
      if (table) node.deps = [table];
    }
    if (kind === "preview") {
      const computation = this.room.nodes.find((other) => ["sql", "python", "r", "synthetic"].includes(other.kind));
      if (computation) node.deps = [computation];
    }
    if (isData(node)) {
      const last = this.room.nodes.map(isData).lastIndexOf(true);
      this.room.nodes.splice(last + 1, 0, node);
    } else {
      this.room.nodes.push(node);
    }
    this.render(`b-n${node.uid}-name`);
    this.changed();
  }
  /** "Remove table" / "Remove file" / "Remove computation", described by the node's legend
   * (which follows its name as it is typed). */
  removeNodeButton(node, noun) {
    return this.button(`Remove ${noun}`, () => {
      removeNode(this.room, node);
      this.render(isData(node) ? "b-add-table" : "b-add-computation");
      this.changed();
    }, { class: "secondary danger", "aria-describedby": `b-n${node.uid}-legend` });
  }
  nodeHeader(node, what) {
    const legend = h("legend", { id: `b-n${node.uid}-legend` }, `${what}: ${nodeName(node) || "(no name yet)"}`);
    const name = this.textField(`n${node.uid}-name`, "Name", nodeName(node), (value) => {
      node.fields["name"] = value;
      replace(legend, `${what}: ${value || "(no name yet)"}`);
    }, { max: 100, hint: "Letters, digits, _, - and spaces; unique in the room. SQL reads it as a table name." });
    return [legend, name];
  }
  dataNode(node) {
    const what = node.kind === "table" ? "Table" : "File";
    const [legend, name] = this.nodeHeader(node, what);
    const required = this.checkbox(
      `n${node.uid}-required`,
      "Required before running",
      node.fields["is_required"] === true,
      (checked) => setField(node.fields, "is_required", checked, false),
      "Computations reading it are refused until a dataset is provisioned (otherwise they read it empty)."
    );
    const box = h("fieldset", { class: "builder-node", "data-builder-node": node.kind }, legend, name, required);
    if (node.kind === "table") {
      box.append(
        this.checkbox(
          `n${node.uid}-drop`,
          "Drop invalid rows instead of refusing the dataset",
          node.fields["drop_invalid_rows"] === true,
          (checked) => setField(node.fields, "drop_invalid_rows", checked, false)
        ),
        this.columnsPart(node)
      );
    } else if (node.kind === "raw") {
      box.append(h("p", { class: "hint" }, "Any file: JSON, TXT, ZIP or any other kind; read by Python and R computations, not by SQL."));
    }
    box.append(h("div", { class: "row builder-toolbar" }, this.removeNodeButton(node, what.toLowerCase())));
    return box;
  }
  columnsPart(node) {
    if (!Array.isArray(node.fields["columns"])) node.fields["columns"] = [];
    const columns = node.fields["columns"];
    const combos = () => Array.isArray(node.fields["unique_column_combinations"]) ? node.fields["unique_column_combinations"] : [];
    const others = combos().filter((combo) => combo.length > 1);
    return h(
      "fieldset",
      { class: "builder-columns" },
      h("legend", {}, "Columns"),
      h("p", { class: "hint" }, "In the CSV's order (no header row is uploaded). Types and rules are checked in the core when a dataset is provisioned."),
      ...columns.map((column, index) => this.columnRow(node, column, index, combos)),
      this.errorSlot(`n${node.uid}-columns`),
      others.length ? h(
        "p",
        {},
        "Also unique together: ",
        others.map((combo) => combo.map((i) => String(columns[i]?.["name"] ?? i)).join(" + ")).join("; "),
        " (edit in the JSON view)."
      ) : null,
      this.button("Add column", () => {
        columns.push({ name: "", format_type: "STRING" });
        this.render(`b-n${node.uid}-c${columns.length - 1}-name`);
        this.changed();
      }, { id: `b-n${node.uid}-add-column` })
    );
  }
  columnRow(node, column, index, combos) {
    const key = `n${node.uid}-c${index}`;
    const label = `Column ${index + 1}`;
    const numeric = () => NUMERIC_FORMATS.has(String(column["format_type"])) && !column["hash_with"];
    const range2 = () => column["in_range"] && typeof column["in_range"] === "object" ? column["in_range"] : {};
    const setBound = (side, value, op) => {
      const current2 = { ...range2() };
      const keys = side === "low" ? ["greater_than_equals", "greater_than"] : ["less_than", "less_than_equals"];
      const existing = keys.find((k) => current2[k] !== void 0 && current2[k] !== null);
      const chosen = op ?? existing ?? keys[0];
      const previous = existing ? current2[existing] : void 0;
      for (const k of keys) delete current2[k];
      const bound = op === void 0 ? value : typeof previous === "number" ? previous : null;
      if (bound !== null && bound !== void 0) current2[chosen] = bound;
      setField(column, "in_range", Object.keys(current2).length ? current2 : null);
    };
    const boundOp = (side) => {
      const r = range2();
      return side === "low" ? r["greater_than"] != null ? "greater_than" : "greater_than_equals" : r["less_than_equals"] != null ? "less_than_equals" : "less_than";
    };
    const boundValue = (side) => {
      const r = range2();
      return side === "low" ? r["greater_than"] ?? r["greater_than_equals"] : r["less_than"] ?? r["less_than_equals"];
    };
    const rangeBox = h(
      "div",
      { class: "builder-range" },
      this.select(`${key}-low-op`, "Lower bound", [["greater_than_equals", "at least (≥)"], ["greater_than", "more than (>)"]], boundOp("low"), (op) => setBound("low", null, op)),
      this.numberField(`${key}-low`, "Lower value", boundValue("low"), (value) => setBound("low", value)),
      this.select(`${key}-high-op`, "Upper bound", [["less_than", "less than (<)"], ["less_than_equals", "at most (≤)"]], boundOp("high"), (op) => setBound("high", null, op)),
      this.numberField(`${key}-high`, "Upper value", boundValue("high"), (value) => setBound("high", value))
    );
    const decimalBox = h(
      "div",
      { class: "builder-range" },
      this.numberField(`${key}-precision`, "Precision (digits)", column["precision"], (value) => setField(column, "precision", value), { integer: true, min: 1, max: 38 }),
      this.numberField(`${key}-scale`, "Scale (after the point)", column["scale"], (value) => setField(column, "scale", value), { integer: true, min: 0, max: 38 })
    );
    const showOptions = () => {
      rangeBox.classList.toggle("hidden", !numeric());
      decimalBox.classList.toggle("hidden", column["format_type"] !== "DECIMAL");
    };
    const formats = new Set(FORMAT_TYPES);
    const current = String(column["format_type"] ?? "STRING");
    const formatOptions = [...formats.has(current) ? [] : [[current, current]], ...FORMAT_TYPES.map((f) => [f, f])];
    const unique = combos().some((combo) => combo.length === 1 && combo[0] === index);
    const row = h(
      "fieldset",
      { class: "builder-column", "data-column": String(index) },
      h("legend", { class: "sr-only" }, label),
      h(
        "div",
        { class: "builder-column-main" },
        this.textField(`${key}-name`, `${label} name`, String(column["name"] ?? ""), (value) => {
          column["name"] = value;
        }, { max: 128 }),
        this.select(`${key}-type`, `${label} type`, formatOptions, current, (value) => {
          column["format_type"] = value;
          if (value === "DECIMAL") {
            if (column["precision"] == null) column["precision"] = 18;
            if (column["scale"] == null) column["scale"] = 2;
          } else {
            delete column["precision"];
            delete column["scale"];
          }
          if (!numeric()) delete column["in_range"];
          this.render();
        }),
        h(
          "div",
          { class: "builder-flags" },
          this.checkbox(
            `${key}-nullable`,
            ["Nullable", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)],
            column["is_nullable"] !== false,
            (checked) => setField(column, "is_nullable", checked, true)
          ),
          this.checkbox(`${key}-unique`, ["Unique", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)], unique, (checked) => {
            const kept = combos().filter((combo) => !(combo.length === 1 && combo[0] === index));
            if (checked) kept.push([index]);
            kept.sort((a, b) => a.length === 1 && b.length === 1 ? a[0] - b[0] : 0);
            setField(node.fields, "unique_column_combinations", kept.length ? kept : null);
          }),
          this.checkbox(
            `${key}-hashed`,
            ["Hashed (SHA-256)", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)],
            column["hash_with"] === "SHA256_HEX",
            (checked) => {
              setField(column, "hash_with", checked ? "SHA256_HEX" : null);
              if (!numeric()) delete column["in_range"];
              showOptions();
            },
            "the owner uploads SHA-256 hex digests of the values"
          )
        ),
        this.button(["Remove", h("span", { class: "sr-only" }, ` ${label.toLowerCase()}`)], () => {
          removeColumn(this.room, node, index);
          this.render(`b-n${node.uid}-add-column`);
          this.changed();
        }, { class: "secondary danger" })
      ),
      rangeBox,
      decimalBox
    );
    showOptions();
    return row;
  }
  // -- computations ------------------------------------------------------------------------
  computationsPart() {
    const compute = this.room.nodes.filter((node) => !isData(node));
    const kinds = h("select", { id: "b-new-kind" }, ...COMPUTE_KINDS.map((kind) => h("option", { value: kind }, KIND_LABELS[kind])));
    return h(
      "section",
      { class: "builder-section", "aria-labelledby": "b-computations-heading" },
      h("h2", { id: "b-computations-heading" }, "Computations"),
      h("p", { class: "hint" }, "SQL, Python, R or synthetic data, reading the datasets and each other's results. “Test all computations” (after Continue) runs each over empty tables and shows its result schema."),
      compute.length ? null : h("p", { class: "muted" }, "No computations yet."),
      ...compute.map((node) => this.computeNode(node)),
      h(
        "div",
        { class: "row builder-toolbar" },
        h("div", { class: "builder-field" }, h("label", { for: "b-new-kind" }, "Computation type"), kinds),
        this.button("Add computation", () => this.addNode(kinds.value), { id: "b-add-computation" })
      ),
      this.privacyPart()
    );
  }
  computeNode(node) {
    const what = KIND_LABELS[node.kind] ?? node.kind;
    const [legend, name] = this.nodeHeader(node, `${what} computation`);
    const box = h("fieldset", { class: "builder-node", "data-builder-node": node.kind }, legend, name);
    if (node.kind === "sql") box.append(...this.sqlParts(node));
    else if (node.kind === "python" || node.kind === "r") box.append(...this.scriptParts(node));
    else if (node.kind === "synthetic") box.append(...this.syntheticParts(node));
    else if (node.kind === "preview") box.append(...this.previewParts(node));
    else box.append(h("p", { class: "hint" }, "A kind of node this form does not edit: it is kept as written (see the JSON view)."));
    box.append(h("div", { class: "row builder-toolbar" }, this.removeNodeButton(node, "computation")));
    return box;
  }
  sqlParts(node) {
    const id = `n${node.uid}`;
    const editor = this.textField(
      `${id}-query`,
      "Query (SQL, DuckDB dialect)",
      String(node.fields["query"] ?? ""),
      (value) => {
        node.fields["query"] = value;
      },
      { multiline: true, rows: 9, placeholder: "SELECT COUNT(*) AS customers FROM bank_customers" }
    );
    const textarea = editor.querySelector("textarea");
    const browser = this.derivedPart("div", { class: "builder-browser", role: "group", "aria-labelledby": `b-${id}-browser-heading` }, () => {
      const tables = this.room.nodes.filter((other) => other !== node && sqlReadable(other) && nodeName(other));
      return [
        h("h3", { id: `b-${id}-browser-heading` }, "Table browser"),
        h("p", { class: "hint" }, "Insert a table or column name at the cursor."),
        tables.length === 0 ? h("p", { class: "muted" }, "Add a table first.") : null,
        h("ul", { class: "builder-tree" }, ...tables.map((table) => h(
          "li",
          {},
          this.insertButton(
            textarea,
            node,
            sqlName(nodeName(table)),
            [h("span", { class: "sr-only" }, "Insert table "), nodeName(table), " ", h("span", { class: "pill" }, KIND_LABELS[table.kind])]
          ),
          table.kind === "table" ? h("ul", {}, ...(table.fields["columns"] ?? []).filter((c) => c["name"]).map((column) => h(
            "li",
            {},
            this.insertButton(textarea, node, sqlName(String(column["name"])), [
              h("span", { class: "sr-only" }, "Insert column "),
              String(column["name"]),
              h("span", { class: "sr-only" }, ` of ${nodeName(table)}`),
              " ",
              h("span", { class: "muted" }, String(column["format_type"] ?? ""))
            ])
          ))) : null
        )))
      ];
    });
    const derive = this.checkbox(`${id}-derive`, "Inputs: the tables the query names", node.derive, (checked) => {
      if (!checked) node.deps = derivedDependencies(node, this.room.nodes);
      node.derive = checked;
    }, "Untick to choose the inputs yourself.");
    const deps = this.derivedPart("div", { class: "builder-deps" }, () => {
      if (node.derive) {
        const found = derivedDependencies(node, this.room.nodes);
        return [h("p", { "data-derived-deps": found.map(nodeName).join(",") }, "Reads: ", found.length ? found.map(nodeName).join(", ") : "nothing yet")];
      }
      const candidates = this.room.nodes.filter((other) => other !== node && sqlReadable(other));
      return [h("fieldset", {}, h("legend", {}, "Inputs"), ...candidates.map((other) => this.checkbox(`${id}-dep-n${other.uid}`, nodeName(other) || "(no name yet)", node.deps.includes(other), (checked) => {
        node.deps = checked ? this.inRoomOrder([...node.deps, other]) : node.deps.filter((dep) => dep !== other);
      })))];
    });
    const depsSlot = this.errorSlot(`${id}-deps`);
    return [
      h("div", { class: "builder-editor" }, h("div", {}, editor, derive, deps, depsSlot), browser),
      this.sqlPrivacy(node)
    ];
  }
  insertButton(textarea, node, text, content) {
    return this.button(content, () => {
      const start2 = textarea.selectionStart ?? textarea.value.length;
      const end = textarea.selectionEnd ?? start2;
      const before = textarea.value.slice(0, start2);
      const spaced = before && !/[\s(,.]$/.test(before) ? ` ${text}` : text;
      textarea.setRangeText(spaced, start2, end, "end");
      node.fields["query"] = textarea.value;
      textarea.focus();
      this.changed();
    }, { class: "link" });
  }
  inRoomOrder(refs) {
    const unique = refs.filter((ref, index) => refs.indexOf(ref) === index);
    return unique.sort((a, b) => (isNode(a) ? this.room.nodes.indexOf(a) : 1e9) - (isNode(b) ? this.room.nodes.indexOf(b) : 1e9));
  }
  sqlPrivacy(node) {
    const id = `n${node.uid}`;
    const mode = this.privacyModes.get(node.uid) ?? "none";
    const filterBox = h(
      "div",
      { class: "builder-indent" },
      this.numberField(
        `${id}-minimum`,
        "Privacy filter minimum rows",
        node.fields["minimum_rows_count"],
        (value) => setField(node.fields, "minimum_rows_count", value !== null ? Math.trunc(value) : null),
        { integer: true, min: 2, max: 1e5, hint: "Every result row aggregates at least this many rows (or people, with a privacy unit column) of each input." }
      )
    );
    const dpBox = h(
      "div",
      { class: "builder-indent builder-range" },
      this.numberField(`${id}-epsilon`, "Differential privacy ε", node.fields["dp_epsilon"], (value) => setField(node.fields, "dp_epsilon", value), { min: 0, max: 10, hint: "Spent from the room's budget at each run." }),
      this.numberField(`${id}-delta`, "δ", node.fields["dp_delta"] ?? 1e-6, (value) => setField(node.fields, "dp_delta", value, 1e-6)),
      this.numberField(
        `${id}-rows-per-unit`,
        "Rows per privacy unit",
        node.fields["dp_max_rows_per_unit"] ?? 1,
        (value) => setField(node.fields, "dp_max_rows_per_unit", value !== null ? Math.trunc(value) : null, 1),
        { integer: true, min: 1 }
      )
    );
    const show = (chosen) => {
      filterBox.classList.toggle("hidden", chosen !== "filter");
      dpBox.classList.toggle("hidden", chosen !== "dp");
    };
    const radios = ["none", "filter", "dp"].map((value) => {
      const radioId = `b-${id}-privacy-${value}`;
      const radio = h("input", { type: "radio", id: radioId, name: `b-${id}-privacy`, value });
      radio.checked = value === mode;
      radio.addEventListener("change", () => {
        this.privacyModes.set(node.uid, value);
        for (const key of ["minimum_rows_count", "dp_epsilon", "dp_delta", "dp_max_rows_per_unit"]) {
          if (value !== "filter" && key === "minimum_rows_count" || value !== "dp" && key !== "minimum_rows_count") delete node.fields[key];
        }
        if (value === "filter" && node.fields["minimum_rows_count"] == null) {
          const typed = Number(document.getElementById(`b-${id}-minimum`)?.value);
          setField(node.fields, "minimum_rows_count", Number.isFinite(typed) && typed > 0 ? Math.trunc(typed) : null);
        }
        if (value === "dp" && node.fields["dp_epsilon"] == null) {
          const typed = Number(document.getElementById(`b-${id}-epsilon`)?.value);
          setField(node.fields, "dp_epsilon", Number.isFinite(typed) && typed > 0 ? typed : null);
        }
        show(value);
        this.changed();
      });
      const text = { none: "None: the result as the query computes it", filter: "Privacy filter", dp: "Differential privacy" }[value];
      return h("label", { for: radioId, class: "inline" }, radio, " ", text);
    });
    show(mode);
    return h("fieldset", { class: "builder-privacy" }, h("legend", {}, "Privacy settings"), ...radios, filterBox, dpBox, this.errorSlot(`${id}-privacy`));
  }
  scriptParts(node) {
    const id = `n${node.uid}`;
    const main = node.kind === "python" ? "main.py" : "main.R";
    const editor = this.textField(
      `${id}-script`,
      `Script (${main})`,
      String(node.fields["script"] ?? ""),
      (value) => {
        node.fields["script"] = value;
      },
      { multiline: true, rows: 12, hint: "Inputs are mounted under /input/<name>; write the result to /output." }
    );
    const browser = this.derivedPart("div", { class: "builder-browser", role: "group", "aria-labelledby": `b-${id}-files-heading` }, () => {
      const candidates = this.room.nodes.filter((other) => other !== node && other.kind !== "preview");
      return [
        h("h3", { id: `b-${id}-files-heading` }, "File browser"),
        h(
          "fieldset",
          {},
          h("legend", {}, "Available data"),
          candidates.length === 0 ? h("p", { class: "muted" }, "Add a dataset first.") : null,
          ...candidates.map((other) => this.checkbox(`${id}-dep-n${other.uid}`, [
            nodeName(other) || "(no name yet)",
            " ",
            h("code", {}, `/input/${nodeName(other)}`)
          ], node.deps.includes(other), (checked) => {
            node.deps = checked ? this.inRoomOrder([...node.deps, other]) : node.deps.filter((dep) => dep !== other);
          }))
        )
      ];
    });
    if (!Array.isArray(node.fields["additional_files"])) node.fields["additional_files"] = [];
    const files = node.fields["additional_files"];
    const filesBox = h(
      "fieldset",
      { class: "builder-files" },
      h("legend", {}, "Additional files"),
      h("p", { class: "hint" }, "Text files mounted next to the script at /input/code/<name>."),
      ...files.map((file, index) => h(
        "div",
        { class: "builder-file" },
        this.textField(`${id}-f${index}-name`, `File ${index + 1} name`, String(file["name"] ?? ""), (value) => {
          file["name"] = value;
        }, { max: 100 }),
        this.textField(`${id}-f${index}-content`, `File ${index + 1} content`, String(file["content"] ?? ""), (value) => {
          file["content"] = value;
        }, { multiline: true, rows: 4 }),
        this.button(["Remove", h("span", { class: "sr-only" }, ` file ${index + 1}`)], () => {
          files.splice(index, 1);
          this.render(`b-${id}-add-file`);
          this.changed();
        }, { class: "secondary danger" })
      )),
      this.button("Add additional file", () => {
        files.push({ name: "", content: "" });
        this.render(`b-${id}-f${files.length - 1}-name`);
        this.changed();
      }, { id: `b-${id}-add-file` })
    );
    return [
      h("div", { class: "builder-editor" }, editor, browser),
      filesBox,
      this.logChecks(node)
    ];
  }
  logChecks(node) {
    const id = `n${node.uid}`;
    return h(
      "fieldset",
      {},
      h("legend", {}, "Logs"),
      this.checkbox(
        `${id}-logs-error`,
        "Show logs of a failed run",
        node.fields["enable_logs_on_error"] === true,
        (checked) => setField(node.fields, "enable_logs_on_error", checked, false),
        "stdout and stderr may hold data values"
      ),
      this.checkbox(
        `${id}-logs-success`,
        "Show logs of a successful run",
        node.fields["enable_logs_on_success"] === true,
        (checked) => setField(node.fields, "enable_logs_on_success", checked, false)
      )
    );
  }
  sourceSelect(node, key, label, accept) {
    return this.derivedPart("div", {}, () => {
      const candidates = this.room.nodes.filter((other) => other !== node && accept(other));
      const current = node.deps[0];
      const options = [["", "— choose —"], ...candidates.map((other) => [String(other.uid), nodeName(other) || "(no name yet)"])];
      if (current && !isNode(current)) options.push([`dangling`, current.dangling]);
      const value = current ? isNode(current) ? String(current.uid) : "dangling" : "";
      return [this.select(key, label, options, value, (chosen) => {
        if (chosen === "dangling") return;
        const picked = candidates.find((other) => String(other.uid) === chosen);
        node.deps = picked ? [picked] : [];
        if (node.kind === "synthetic") delete node.fields["columns"];
      })];
    });
  }
  syntheticParts(node) {
    const id = `n${node.uid}`;
    const masks = this.derivedPart("fieldset", { class: "builder-masks" }, () => {
      const source = node.deps[0];
      const entries2 = () => Array.isArray(node.fields["columns"]) ? node.fields["columns"] : [];
      const head = h("legend", {}, "Columns to mask");
      if (!source || !isNode(source) || source.kind !== "table") {
        return [head, h("p", { class: "hint" }, "Choose a table as the source to pick the columns to mask (masks of other sources: edit in the JSON view).")];
      }
      const columns = source.fields["columns"] ?? [];
      return [
        head,
        h("p", { class: "hint" }, "A masked column is replaced by random values of its kind; the others are synthesised with differential privacy."),
        ...columns.map((column, index) => {
          const entry = entries2().find((item) => item["index"] === index);
          const format = String(column["format_type"] ?? "");
          const dataType = format === "INTEGER" ? "integer" : format === "FLOAT" || format === "DECIMAL" ? "float" : "string";
          const label = String(column["name"] ?? "") || `column ${index + 1}`;
          return h(
            "div",
            { class: "row" },
            this.checkbox(`${id}-mask-${index}`, `Mask ${label}`, entry?.["should_mask_column"] === true, (checked) => {
              const kept = entries2().filter((item) => item["index"] !== index);
              if (checked) {
                const maskType = format === "EMAIL" ? "email" : format === "PHONE_NUMBER_E164" ? "phoneNumber" : format.startsWith("DATE") ? "date" : format.startsWith("TIMESTAMP") ? "timestamp" : dataType === "string" ? "genericString" : "genericNumber";
                kept.push({ index, data_type: dataType, mask_type: maskType, should_mask_column: true, is_nullable: column["is_nullable"] !== false, name: label });
                kept.sort((a, b) => Number(a["index"]) - Number(b["index"]));
              }
              setField(node.fields, "columns", kept.length ? kept : null);
            }),
            entry?.["should_mask_column"] === true ? this.select(
              `${id}-mask-${index}-type`,
              `Mask ${label} as`,
              MASK_TYPES.map((m) => [m, m]),
              String(entry["mask_type"] ?? "genericString"),
              (value) => {
                entry["mask_type"] = value;
              }
            ) : null
          );
        })
      ];
    });
    return [
      this.sourceSelect(node, `${id}-source`, "Source table", (other) => ["table", "sql", "python", "r", "synthetic"].includes(other.kind)),
      h(
        "div",
        { class: "builder-range" },
        this.numberField(`${id}-epsilon`, "ε (privacy loss of one run)", node.fields["epsilon"], (value) => setField(node.fields, "epsilon", value), { min: 0, max: 100 }),
        this.select(`${id}-model`, "Model", [["mst", "MST"], ["aim", "AIM"]], String(node.fields["model"] ?? "mst"), (value) => setField(node.fields, "model", value, "mst"))
      ),
      masks,
      this.checkbox(
        `${id}-statistics`,
        "Add a quality report",
        node.fields["output_original_data_statistics"] === true,
        (checked) => setField(node.fields, "output_original_data_statistics", checked, false)
      ),
      this.logChecks(node)
    ];
  }
  previewParts(node) {
    const id = `n${node.uid}`;
    return [
      this.sourceSelect(node, `${id}-source`, "Computation previewed", (other) => ["sql", "python", "r", "synthetic"].includes(other.kind)),
      this.numberField(
        `${id}-quota`,
        "Quota per analyst (bytes)",
        node.fields["quota_bytes"] ?? 0,
        (value) => setField(node.fields, "quota_bytes", value !== null ? Math.trunc(value) : null, 0),
        { integer: true, min: 0, hint: "Its analysts read the result, up to this many bytes in all, without being analysts of the computation." }
      )
    ];
  }
  privacyPart() {
    const fields = this.room.fields;
    const privacy = () => {
      if (!fields["privacy"] || typeof fields["privacy"] !== "object") fields["privacy"] = {};
      return fields["privacy"];
    };
    const tidy = () => {
      if (Object.keys(privacy()).length === 0) delete fields["privacy"];
    };
    const current = fields["privacy"] && typeof fields["privacy"] === "object" ? fields["privacy"] : {};
    return h(
      "fieldset",
      { class: "builder-room-privacy" },
      h("legend", {}, "Room privacy settings"),
      this.textField(
        "privacy-unit",
        "Privacy unit column (optional)",
        String(current["unit_column"] ?? ""),
        (value) => {
          setField(privacy(), "unit_column", value);
          tidy();
        },
        { max: 200, hint: "A column naming a person (e.g. customer_id): the privacy filter counts distinct people, not rows." }
      ),
      this.checkbox(
        "privacy-revealing",
        "Allow revealing aggregates (MIN, MAX, MEDIAN …) through the privacy filter",
        current["allow_revealing_aggregates"] === true,
        (checked) => {
          setField(privacy(), "allow_revealing_aggregates", checked, false);
          tidy();
        }
      ),
      h(
        "div",
        { class: "builder-range" },
        this.numberField(
          "privacy-budget",
          "Differential privacy budget ε",
          current["dp_epsilon_budget"],
          (value) => {
            setField(privacy(), "dp_epsilon_budget", value);
            tidy();
          },
          { min: 0, max: 1e3, hint: "Needed by differentially private SQL and synthetic data." }
        ),
        this.numberField("privacy-delta", "Budget δ", current["dp_delta_budget"] ?? 1e-5, (value) => {
          setField(privacy(), "dp_delta_budget", value, 1e-5);
          tidy();
        })
      )
    );
  }
  // -- permissions --------------------------------------------------------------------------
  permissionsPart() {
    const fields = this.room.fields;
    const newEmail = h("input", { id: "b-new-email", type: "email", autocomplete: "off", placeholder: "ann@bank.example" });
    const newSlot = this.errorSlot("new-email");
    newEmail.setAttribute("aria-describedby", newSlot.id);
    this.controls.set("new-email", newEmail);
    return h(
      "section",
      { class: "builder-section", "aria-labelledby": "b-permissions-heading" },
      h("h2", { id: "b-permissions-heading" }, "Permissions"),
      h(
        "fieldset",
        {},
        h("legend", {}, "After publishing"),
        this.checkbox(
          "interactive",
          "Enable data clean room interactivity",
          fields["interactive"] === true,
          (checked) => {
            fields["interactive"] = checked;
          },
          "Participants may request new computations, approved by the Data Owners they affect; otherwise the room never changes."
        ),
        this.checkbox(
          "development",
          "Enable development environment",
          fields["enable_development"] === true,
          (checked) => {
            fields["enable_development"] = checked;
          },
          "Participants may run their own computations over the data and results they may already read."
        ),
        this.checkbox(
          "basic",
          "Every participant may read the definition, status, audit log and list of datasets",
          fields["basic_permissions"] !== false,
          (checked) => setField(fields, "basic_permissions", checked, true)
        )
      ),
      h("h3", {}, "Participants"),
      h("p", { class: "hint" }, "An invitation is sent to each participant as soon as the data clean room is published."),
      this.room.people.length ? null : h("p", { class: "muted" }, "No participants yet."),
      ...this.room.people.map((person) => this.personPart(person)),
      h(
        "div",
        { class: "row builder-toolbar builder-add-person" },
        h("div", { class: "builder-field" }, h("label", { for: "b-new-email" }, "Participant e-mail"), newEmail, newSlot),
        this.button("Add participant", () => this.addParticipant(), { id: "b-add-participant" })
      )
    );
  }
  addParticipant() {
    const input = document.getElementById("b-new-email");
    const email = input.value.trim();
    const slot = this.errors.get("new-email");
    const fail = (message) => {
      replace(slot, message);
      slot.classList.remove("hidden");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    };
    if (!isEmail(email)) return fail("Type an e-mail address, like ann@bank.example.");
    if (this.room.people.some((person) => String(person.fields["email"]).toLowerCase() === email.toLowerCase())) return fail("This participant is already listed.");
    this.room.people.push({ uid: nextUid(), fields: { email }, owns: [], analyses: [] });
    this.render("b-new-email");
    this.changed();
  }
  personPart(person) {
    const id = `p${person.uid}`;
    const legend = h("legend", {}, String(person.fields["email"] ?? ""));
    const roles = this.derivedPart("div", { class: "builder-roles" }, () => {
      const data = this.room.nodes.filter(isData);
      const compute = this.room.nodes.filter((node) => !isData(node));
      const role = (node, list, word) => this.checkbox(`${id}-${list}-n${node.uid}`, [h("span", { class: "builder-role" }, word), ` of ${nodeName(node) || "(no name yet)"}`], person[list].includes(node), (checked) => {
        person[list] = checked ? this.inRoomOrder([...person[list], node]) : person[list].filter((ref) => ref !== node);
      });
      return [
        h("fieldset", {}, h("legend", {}, "Datasets"), data.length ? null : h("p", { class: "muted" }, "None yet."), ...data.map((node) => role(node, "owns", "Data Owner"))),
        h("fieldset", {}, h("legend", {}, "Computations"), compute.length ? null : h("p", { class: "muted" }, "None yet."), ...compute.map((node) => role(node, "analyses", "Analyst")))
      ];
    });
    return h(
      "fieldset",
      { class: "builder-person", "data-participant": String(person.fields["email"] ?? "") },
      legend,
      h(
        "div",
        { class: "row" },
        this.textField(`${id}-email`, "E-mail", String(person.fields["email"] ?? ""), (value) => {
          person.fields["email"] = value.trim();
          replace(legend, value.trim());
        }, { type: "email" }),
        this.button(["Remove participant", h("span", { class: "sr-only" }, ` ${String(person.fields["email"] ?? "")}`)], () => {
          this.room.people = this.room.people.filter((other) => other !== person);
          this.render("b-new-email");
          this.changed();
        }, { class: "secondary danger" })
      ),
      roles
    );
  }
};

// src/pages/overview.ts
var DUPLICATE_KEY = "sealroom:duplicate-template";
async function mount8(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const definition = room.definition;
    const exportButton = h("button", { type: "button", class: "secondary" }, "Export JSON");
    exportButton.addEventListener("click", () => download(`${definition.name.replace(/[^\w.-]+/g, "_")}.json`, asTemplate(definition), "application/json"));
    const duplicateButton = h("button", { type: "button", class: "secondary" }, "Duplicate");
    duplicateButton.addEventListener("click", () => {
      const { owner: _owner, ...rest } = JSON.parse(asTemplate(definition));
      sessionStorage.setItem(DUPLICATE_KEY, JSON.stringify(rest, null, 2) + "\n");
      window.location.assign("/rooms/new#duplicate");
    });
    replace(
      section,
      h(
        "div",
        { class: "card", "data-verified": "room" },
        h(
          "p",
          {},
          h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this definition hashes to the room id, and the attested core signed it",
          room.commits.length ? ` (with ${room.commits.length} approved change${room.commits.length > 1 ? "s" : ""})` : "",
          "."
        ),
        h("p", {}, "Room id ", h("code", { "data-room-id": roomId }, roomId)),
        h("p", {}, `Status: ${room.status}`),
        h("div", { class: "row" }, exportButton, duplicateButton)
      ),
      description(definition, roomId),
      h("h2", {}, "Compute graph"),
      h("div", { class: "chart" }, renderGraph(definition)),
      h("h2", {}, "Datasets"),
      renderDatasets(definition),
      h("h2", {}, "Computations"),
      renderComputations(definition),
      h("h2", {}, "Participants and permissions"),
      renderParticipants(definition),
      h("h2", {}, "Settings"),
      renderSettings(definition)
    );
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
function description(definition, roomId) {
  const kind = roomKind(definition);
  if (kind === "media" || kind === "data-lab") {
    const [page, words] = kind === "media" ? ["media", "a media clean room"] : ["data-lab", "a DataLab"];
    return h(
      "p",
      {},
      `This room is ${words}: its configuration is in its description, shown in words on the `,
      h("a", { href: `/rooms/${roomId}/${page}` }, kind === "media" ? "Media" : "DataLab"),
      " tab."
    );
  }
  return definition.description ? h("p", {}, definition.description) : null;
}

// src/pages/new-room.ts
async function mount9(section) {
  const form = section.querySelector("#draft-form");
  const out = section.querySelector("#draft");
  const fromTemplate = section.querySelector("#start-template");
  const fromScratch = section.querySelector("#start-scratch");
  const editor = h("textarea", { id: "template-text", rows: 18 });
  const builder = h("div", { id: "room-builder" });
  const showJson = (text) => {
    editor.value = text;
  };
  fromScratch.replaceChildren(builder, h(
    "details",
    { class: "builder-json" },
    h("summary", {}, "JSON"),
    h("label", { for: "template-text" }, "Definition (JSON template)"),
    editor,
    h("p", { class: "hint" }, "The format of docs/room-definition.md. Edit it here, then leave the field to see the form follow.")
  ));
  editor.addEventListener("change", () => mountBuilder(builder, editor.value, showJson));
  const duplicate = sessionStorage.getItem(DUPLICATE_KEY);
  if (duplicate && window.location.hash === "#duplicate") {
    sessionStorage.removeItem(DUPLICATE_KEY);
    mountBuilder(builder, duplicate, showJson);
    choose(form, "scratch", fromTemplate, fromScratch);
  } else {
    mountBuilder(builder, null, showJson);
  }
  section.querySelector("#edit-template").addEventListener("click", async () => {
    const file = section.querySelector("#template-file").files?.[0];
    if (!file) {
      replace(out, notice("error", "Choose a JSON template file first."));
      out.classList.remove("hidden");
      return;
    }
    const text = await file.text();
    showJson(text);
    mountBuilder(builder, text, showJson);
    choose(form, "scratch", fromTemplate, fromScratch);
  });
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "start") choose(form, target.value, fromTemplate, fromScratch);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scratch = form.elements.namedItem("start").value === "scratch";
    let text;
    if (scratch) {
      text = editor.value;
    } else {
      const file = section.querySelector("#template-file").files?.[0];
      if (!file) {
        replace(out, notice("error", "Choose a JSON template file first."));
        out.classList.remove("hidden");
        return;
      }
      text = await file.text();
    }
    const replaceOwner = section.querySelector("#replace-owner").checked;
    await showDraft(out, text, replaceOwner);
  });
}
function choose(form, start2, fromTemplate, fromScratch) {
  form.querySelector(`input[name=start][value=${start2}]`).checked = true;
  fromTemplate.classList.toggle("hidden", start2 !== "template");
  fromScratch.classList.toggle("hidden", start2 !== "scratch");
}
async function showDraft(out, text, replaceOwner) {
  out.classList.remove("hidden");
  replace(out, h("p", { class: "muted" }, "Checking the template…"));
  let draft;
  let definition;
  try {
    draft = await sendJson("/v1/room-drafts", { method: "POST", json: { template: text, replace_owner: replaceOwner } });
    definition = await checkDraft2(draft, text);
  } catch (error) {
    replace(out, notice("error", errorText(error)));
    return;
  }
  const tests = h("div", { "data-tests": "" });
  const testButton = h("button", { type: "button", class: "secondary" }, "Test all computations");
  testButton.addEventListener("click", async () => {
    testButton.setAttribute("disabled", "");
    replace(tests, h("p", { class: "muted" }, "Running every computation over empty tables…"));
    try {
      replace(tests, renderTests(await testAll(draft.definition)));
    } catch (error) {
      replace(tests, notice("error", errorText(error)));
    } finally {
      testButton.removeAttribute("disabled");
    }
  });
  const publishButton = h("button", { type: "button" }, "Encrypt and publish");
  const publishLine = h("div", { "aria-live": "polite" });
  publishButton.addEventListener("click", async () => {
    publishButton.setAttribute("disabled", "");
    try {
      const session = await WebSession.open();
      const roomId = await session.publishRoom(draft.definition, draft.room_id);
      replace(publishLine, notice("ok", `Published: room ${roomId}`));
      window.location.assign(`/rooms/${roomId}/overview`);
    } catch (error) {
      replace(publishLine, notice("error", errorText(error)));
      publishButton.removeAttribute("disabled");
    }
  });
  const exportButton = h("button", { type: "button", class: "secondary" }, "Export JSON");
  exportButton.addEventListener("click", () => download(`${definition.name.replace(/[^\w.-]+/g, "_")}.json`, draft.template, "application/json"));
  replace(
    out,
    h(
      "div",
      { class: "card" },
      h("h2", {}, definition.name),
      h(
        "p",
        {},
        "Room id once published ",
        h("code", { "data-draft-room-id": "" }, draft.room_id),
        h("br"),
        h("span", { class: "verified" }, "✓ "),
        "checked in this browser: the SHA-256 of the definition below, which says what your template says."
      ),
      h("div", { class: "row" }, testButton, exportButton, publishButton),
      publishLine
    ),
    tests,
    h("h2", {}, "Compute graph"),
    h("div", { class: "chart" }, renderGraph(definition)),
    h("h2", {}, "Datasets"),
    renderDatasets(definition),
    h("h2", {}, "Computations"),
    renderComputations(definition),
    h("h2", {}, "Participants and permissions"),
    renderParticipants(definition),
    h("p", { class: "hint" }, "An invitation is sent to each participant as soon as the data clean room is published."),
    h("h2", {}, "Settings"),
    renderSettings(definition)
  );
}
async function checkDraft2(draft, templateText2) {
  if (await sha256Hex(utf8(draft.definition)) !== draft.room_id) {
    throw new Error("the server's draft does not hash to the room id it gave: refusing to publish it");
  }
  const definition = JSON.parse(draft.definition);
  const template = JSON.parse(templateText2);
  for (const [key, value] of Object.entries(template)) {
    if (key === "format" || key === "$schema" || key === "owner") continue;
    if (key === "identities" || key === "trust_roots") {
      if (!covers(value, definition[key])) throw new Error(`the server's draft changed the template's ${key}`);
      continue;
    }
    if (!covers(value, definition[key])) {
      throw new Error(`the server's draft differs from the template at ${JSON.stringify(key)}: refusing to publish it`);
    }
  }
  const added = (definition["identities"] ?? []).filter((identity) => !(template["identities"] ?? []).some((t) => t.email === identity.email));
  if (added.some((identity) => identity.root !== "platform")) {
    throw new Error("the server's draft recognises a participant by a trust root the template did not name");
  }
  return definition;
}
function covers(wanted, actual) {
  if (Array.isArray(wanted)) {
    return Array.isArray(actual) && (wanted.length === actual.length || false) && wanted.every((item, index) => covers(item, actual[index]));
  }
  if (wanted !== null && typeof wanted === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([key, value]) => covers(value, actual[key]));
  }
  if (typeof wanted === "string" && typeof actual === "string" && wanted.includes("@")) {
    return wanted.trim().toLowerCase() === actual.trim().toLowerCase();
  }
  return wanted === actual;
}
async function testAll(definitionText) {
  const testRun = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const body = `{"test_run":"${testRun}","definition":${definitionText},"test_datasets":{},"parameters":{}}`;
  return (await sendJson("/v1/test-runs", { method: "POST", jsonText: body })).results;
}
function renderTests(results) {
  return h(
    "div",
    { class: "card" },
    h("h2", {}, "Test all computations"),
    h("p", { class: "hint" }, "Every computation ran over empty tables: this shows the schema of each result, or its error."),
    ...results.map((report) => h(
      "div",
      { "data-test-node": report.node, "data-test-status": report.status },
      h("h3", {}, `${report.node} `, h("span", { class: report.status === "success" ? "verified" : "failed" }, report.status)),
      report.error ? notice("error", report.error) : null,
      report.output_schema ? h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Type"))),
        h("tbody", {}, ...report.output_schema.map((column) => h(
          "tr",
          {},
          h("td", {}, h("code", {}, column.name)),
          h("td", {}, String(column.format_type ?? column.type ?? ""))
        )))
      ) : null,
      report.files ? h("p", {}, `Files: ${report.files.join(", ")}`) : null,
      ...Object.entries(report.logs ?? {}).map(([name, text]) => h("details", {}, h("summary", {}, name), h("pre", {}, text)))
    ))
  );
}

// src/pages/requests.ts
var STATUS_TEXT = {
  pending: "Waiting for approval",
  ready_to_integrate: "Approved: ready to integrate",
  integrated: "Integrated",
  rejected: "Rejected",
  superseded: "Superseded (another change was integrated first)"
};
async function mount10(section) {
  const roomId = section.dataset["roomId"];
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    if (!room.definition.interactive) {
      replace(section, notice(
        "info",
        "This room is not interactive: its definition cannot change after publication, ",
        "so it takes no requests."
      ));
      return;
    }
    const list = h("div", { "data-requests": "" });
    const page = new RequestsPage(session, room, list);
    replace(section, page.form(), h("h2", {}, "Requests of this room"), list);
    await page.refresh();
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
var RequestsPage = class {
  constructor(session, room, list) {
    this.session = session;
    this.room = room;
    this.list = list;
  }
  session;
  room;
  list;
  // -- a new request ---------------------------------------------------------------------------
  form() {
    const definition = this.room.definition;
    const me = this.session.email;
    const stored = window.location.hash === "#draft" ? sessionStorage.getItem(REQUEST_DRAFT_KEY) : null;
    const fromDevelopment = stored ? JSON.parse(stored) : null;
    const language = languageSelect("req-language", fromDevelopment?.kind ?? "sql");
    const name = h("input", { id: "req-name", type: "text", autocomplete: "off", spellcheck: "false", value: fromDevelopment?.name ?? "" });
    const editor = codeEditor("req-code", 12);
    editor.value = fromDevelopment?.code ?? "";
    const minimum = h("input", { id: "req-minimum", type: "number", min: 2, step: 1, inputmode: "numeric" });
    const note = h("textarea", { id: "req-note", rows: 3, class: "prose" });
    const mine = availableData(definition, me);
    const all = definition.nodes.filter((n) => n.kind !== "preview").map((node) => mine.find((a) => a.node.name === node.name) ?? { node, role: "other" });
    const browser = dataBrowser("req-data", definition, all);
    if (fromDevelopment) browser.choose(fromDevelopment.dependencies);
    const analystBoxes = definition.participants.map((p, index) => {
      const id = `req-analyst-${index}`;
      const box = h("input", { type: "checkbox", id, value: p.email, checked: sameEmail(p.email, me) });
      return { box, row: h("div", { class: "check" }, box, h("label", { for: id }, p.email)) };
    });
    const validate = h("button", { type: "button" }, "Validate");
    const submit = h("button", { type: "button", disabled: true }, "Submit for approval");
    const out = h("div", { "data-validation": "", "aria-live": "polite" });
    let checked = null;
    const invalidate = () => {
      if (checked) replace(out, h("p", { class: "hint" }, "Changed since it was validated: validate it again."));
      checked = null;
      submit.setAttribute("disabled", "");
    };
    const input = () => {
      const kind = language.value;
      const computation = {
        kind,
        name: name.value.trim(),
        code: editor.value,
        // SQL reads the tables its query names (resolved as the SDK does, and checked and
        // shown here on validation); a script, the inputs chosen.
        dependencies: kind === "sql" ? null : dependenciesFor(kind, editor.value, browser.chosen(), all),
        minimumRowsCount: kind === "sql" && minimum.value ? Number(minimum.value) : null
      };
      const analysts = {};
      for (const { box } of analystBoxes) if (box.checked) analysts[box.value] = [computation.name];
      return { note: note.value, computations: [computation], analysts };
    };
    validate.addEventListener("click", async () => {
      validate.setAttribute("disabled", "");
      invalidate();
      replace(out, h("p", {}, "Validating…"));
      try {
        checked = await draftRequest(this.session, this.room, input());
        submit.removeAttribute("disabled");
        replace(out, validation(checked));
      } catch (error) {
        replace(out, notice("error", errorText(error)));
      } finally {
        validate.removeAttribute("disabled");
      }
    });
    submit.addEventListener("click", async () => {
      if (!checked) return;
      submit.setAttribute("disabled", "");
      try {
        const view = await submitDraft(this.session, this.room, checked);
        sessionStorage.removeItem(REQUEST_DRAFT_KEY);
        replace(out, notice("ok", `Submitted request ${view.data.id.slice(0, 12)}… for approval by its affected data owners.`));
        checked = null;
        await this.refresh();
      } catch (error) {
        replace(out, notice("error", errorText(error)));
        submit.removeAttribute("disabled");
      }
    });
    const formElement = h(
      "form",
      { class: "request-form", "aria-labelledby": "req-title" },
      h(
        "div",
        { class: "workbench" },
        h(
          "div",
          { class: "editor-pane" },
          h(
            "div",
            { class: "row" },
            h("div", {}, h("label", { for: "req-language" }, "Language"), language),
            h("div", { class: "grow" }, h("label", { for: "req-name" }, "Computation name"), name)
          ),
          h("label", { for: "req-code" }, "Code"),
          editor,
          h(
            "p",
            { class: "hint", id: "req-code-hint" },
            "Tab indents; press Esc, then Tab, to leave the editor. ",
            "SQL reads the tables it names; a Python or R script reads the inputs chosen under Available data, mounted at /input/<name>/."
          ),
          h("label", { for: "req-minimum" }, "Privacy filter: minimum rows per result row (SQL, optional)"),
          minimum,
          h("fieldset", {}, h("legend", {}, "Analysts of the new computation"), ...analystBoxes.map((a) => a.row)),
          h("label", { for: "req-note" }, "Note for the approvers"),
          note,
          h("div", { class: "row" }, validate, submit),
          out
        ),
        browser.element
      )
    );
    formElement.addEventListener("submit", (event) => event.preventDefault());
    formElement.addEventListener("input", invalidate);
    formElement.addEventListener("change", invalidate);
    return h(
      "details",
      { class: "card", open: fromDevelopment !== null || void 0 },
      h("summary", { id: "req-title" }, "Create request"),
      formElement
    );
  }
  // -- the room's requests ---------------------------------------------------------------------
  async refresh() {
    try {
      this.room = await this.session.room(this.room.roomId, true);
      const views = await listRequests(this.room);
      views.sort((a, b) => b.data.created_at_ms - a.data.created_at_ms);
      replace(this.list, views.length ? h("div", {}, ...views.map((view) => this.card(view))) : h("p", { class: "muted" }, "No request yet."));
    } catch (error) {
      replace(this.list, notice("error", `The requests could not be verified: ${errorText(error)}`));
    }
  }
  card(view) {
    const { data, commit } = view;
    const me = this.session.email;
    const groups = view.groups ?? data.approver_groups;
    const approved = new Set(Object.keys(data.approvals).map((e) => e.toLowerCase()));
    const owners = new Set(groups.flatMap((g) => g.approvers.map((e) => e.toLowerCase())));
    const pending = data.status === "pending";
    const amOwner = owners.has(me.toLowerCase());
    const line = h("p", { "aria-live": "polite" });
    const out = h("div", { "data-preview": "" });
    const buttons = [];
    const act = (label, action2, reason) => {
      const button = h("button", { type: "button", class: action2 === "reject" ? "secondary" : null }, label);
      button.addEventListener("click", async () => {
        button.setAttribute("disabled", "");
        try {
          await actOnRequest(this.session, this.room, data.id, action2, reason?.() ?? "");
          await this.refresh();
          if (action2 === "integrate") {
            const added = commit.nodes.map((n) => n.name).join(", ");
            this.list.prepend(notice(
              "ok",
              `Integrated: the room now has ${added || "its new analysts"}. `,
              h("a", { href: `/rooms/${this.room.roomId}/actions` }, "Run it from the Actions tab"),
              "."
            ));
          }
        } catch (error) {
          line.textContent = "";
          replace(out, notice("error", errorText(error)));
          button.removeAttribute("disabled");
        }
      });
      return button;
    };
    if (pending && amOwner && !approved.has(me.toLowerCase())) buttons.push(act("Approve", "approve"));
    let reasonInput = null;
    if (pending && (amOwner || sameEmail(data.requester, me))) {
      const id = `reason-${data.id.slice(0, 16)}`;
      reasonInput = h("input", { id, type: "text", autocomplete: "off" });
      const field = reasonInput;
      buttons.push(h("div", { class: "reason" }, h("label", { for: id }, amOwner ? "Reason (if you reject)" : "Reason (if you withdraw)"), field));
      buttons.push(act(amOwner ? "Reject" : "Withdraw", "reject", () => field.value));
    }
    if (pending && owners.size === 1 && amOwner && commit.nodes.length) {
      const preview = h("button", { type: "button", class: "secondary" }, "Preview");
      preview.addEventListener("click", async () => {
        preview.setAttribute("disabled", "");
        replace(out);
        try {
          const job = await previewRequest2(this.session, this.room, view);
          const status = (s) => {
            line.textContent = `Preview job ${job.jobId.slice(0, 12)}…: ${s}`;
          };
          if (commit.nodes.at(-1).kind === "sql") {
            const result = await this.session.result(job, status);
            replace(out, dataTable(result.table.columns, result.table.rows, `Preview of ${job.node}`));
          } else {
            replace(out, showFiles(await scriptResult(this.session, job, this.room, status), job.node));
          }
          line.textContent = "Preview verified and decrypted in this browser (not yet approved).";
        } catch (error) {
          line.textContent = "";
          replace(out, notice("error", errorText(error)));
        } finally {
          preview.removeAttribute("disabled");
        }
      });
      buttons.push(preview);
    }
    if (data.status === "ready_to_integrate") buttons.push(act("Integrate", "integrate"));
    const ownerRows = groups.flatMap((group) => group.approvers.map((email) => [
      group.node,
      email,
      approved.has(email.toLowerCase()) ? "Approved" : !pending && data.status !== "ready_to_integrate" && data.status !== "integrated" ? "Not approved" : data.missing_approvals.includes(group.node) ? "Waiting" : "Not needed (another owner approved)"
    ]));
    return h(
      "div",
      { class: "card request", "data-request-id": data.id, "data-status": data.status },
      h(
        "h3",
        {},
        commit.nodes.map((n) => n.name).join(", ") || ((commit.owners ?? []).length || (commit.withdrawals ?? []).length ? "People" : "New analysts"),
        " ",
        h("span", { class: `pill status-${data.status}` }, STATUS_TEXT[data.status] ?? data.status)
      ),
      h(
        "p",
        {},
        h("span", { class: "verified" }, "✓ "),
        "Request ",
        h("code", { title: data.id }, `${data.id.slice(0, 12)}…`),
        " by ",
        commit.requester,
        ": its commit was verified in this browser to be the one its id names."
      ),
      commit.note ? h("p", { class: "note" }, commit.note) : null,
      ...commit.nodes.map((node) => h(
        "div",
        { "data-request-node": node.name },
        h(
          "p",
          {},
          h("code", {}, node.name),
          " ",
          h("span", { class: "pill" }, node.kind.toUpperCase()),
          " reads ",
          (Array.isArray(node["dependencies"]) ? node["dependencies"] : []).join(", ") || "nothing",
          typeof node["minimum_rows_count"] === "number" ? ` (privacy filter: at least ${node["minimum_rows_count"]} rows per result row)` : ""
        ),
        h("pre", {}, h("code", {}, String(node["query"] ?? node["script"] ?? "")))
      )),
      commit.analysts.length ? h("p", {}, "Analysts: ", commit.analysts.map((a) => `${a.email} (${a.analyst_of.join(", ")})`).join("; ")) : null,
      (commit.owners ?? []).length ? h("p", { "data-request-owners": "" }, "New data owners: ", (commit.owners ?? []).map((o) => `${o.email} (${o.data_owner_of.join(", ")})`).join("; ")) : null,
      (commit.withdrawals ?? []).length ? h("p", { "data-request-withdrawals": "" }, "Withdrawn: ", (commit.withdrawals ?? []).map((w) => `${w.email} (no longer ${[...(w.data_owner_of ?? []).map((n) => `data owner of ${n}`), ...(w.analyst_of ?? []).map((n) => `analyst of ${n}`)].join(", ")})`).join("; ")) : null,
      h("h4", {}, "Affected data owners"),
      ownerRows.length ? h("div", { "data-owners": "" }, dataTable(["Data node", "Data owner", "Approval"], ownerRows)) : h("p", { class: "muted" }, "None: the request reads no data node."),
      view.groups === null ? h("p", { class: "hint" }, "These owners are the server's word: the room changed since this request.") : null,
      h("p", { class: "hint" }, "Status and approvals are as the server reports them; the core enforces them, and the audit log records each approval with the approver's signature."),
      data.rejection !== null || data.rejected_by ? h("p", {}, `Rejected by ${data.rejected_by ?? "?"}${data.rejection ? `: ${data.rejection}` : ""}`) : null,
      buttons.length ? h("div", { class: "row actions" }, ...buttons) : null,
      line,
      out
    );
  }
};
function validation(draft) {
  const rows = draft.groups.flatMap((g) => g.approvers.map((email) => [g.node, email]));
  const node = draft.commit.nodes[0];
  return h(
    "div",
    { class: "notice ok", role: "status", "data-validated": draft.requestId },
    h(
      "p",
      {},
      h("span", { class: "verified" }, "✓ Valid. "),
      `Checked in this browser: the request says what you wrote, on the room's current history; its id will be `,
      h("code", {}, `${draft.requestId.slice(0, 12)}…`),
      "."
    ),
    node ? h("p", {}, h("code", {}, node.name), " reads ", (node["dependencies"] ?? []).join(", ") || "nothing", ".") : null,
    rows.length ? h(
      "div",
      {},
      h("p", {}, "Affected data owners (one owner of each data node must approve):"),
      dataTable(["Data node", "Data owner"], rows)
    ) : h("p", {}, "It reads no data node: nobody needs to approve it.")
  );
}

// src/app.ts
var MODULES = {
  overview: mount8,
  actions: mount2,
  audit: mount3,
  development: mount6,
  requests: mount10,
  "new-room": mount9,
  datasets: mount5,
  keys: mount,
  media: mount7,
  "data-lab": mount4
};
function start() {
  for (const element of document.querySelectorAll("[data-module]")) {
    const mount11 = MODULES[element.dataset["module"]];
    if (mount11) void mount11(element);
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
