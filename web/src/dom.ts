// Small DOM helpers. Text from the server or from data is always set as text (textContent),
// never parsed as HTML, and nothing here needs an inline script or style (the CSP allows none).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

export function svg(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

function setAttributes(element: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(element: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "number" ? String(child) : child);
  }
}

export function clear(element: Element): void {
  while (element.firstChild) element.firstChild.remove();
}

export function replace(element: Element, ...children: Child[]): void {
  clear(element);
  append(element, children);
}

export function notice(kind: "ok" | "error" | "info", ...children: Child[]): HTMLElement {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

export function isNumeric(values: readonly string[]): boolean {
  const present = values.filter((value) => value !== "");
  return present.length > 0 && present.every((value) => NUMBER.test(value));
}

/** A table of rows; numeric columns right-aligned. */
export function dataTable(
  columns: readonly string[],
  rows: readonly string[][],
  caption?: string,
  options: { nowrap?: readonly number[] } = {},
): HTMLElement {
  const numeric = columns.map((_, index) => isNumeric(rows.map((row) => row[index] ?? "")));
  const cellClass = (index: number): string | null =>
    [numeric[index] ? "num" : "", options.nowrap?.includes(index) ? "nowrap" : ""].join(" ").trim() || null;
  return h(
    "table",
    {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, ...columns.map((column, index) =>
      h("th", { scope: "col", class: cellClass(index) }, column)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map((_, index) =>
      h("td", { class: cellClass(index) }, row[index] ?? ""))))),
  );
}

/** A horizontal bar chart of the last numeric column against the other columns, or null when
 * there is nothing to compare: one row, no label column, no numeric column, or over 50 rows. */
export function barChart(columns: readonly string[], rows: readonly string[][], title: string): SVGElement | null {
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
    class: "bar-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `${title}: ${columns[valueIndex]} by ${columns.filter((_, i) => i !== valueIndex).join(", ")}`,
  });
  rows.forEach((_, index) => {
    const y = 5 + index * (barHeight + 6);
    const barWidth = Math.max(1, (Math.abs(values[index]!) / max) * (width - labelWidth - 80));
    chart.append(
      svg("text", { x: labelWidth - 8, y: y + 15, "text-anchor": "end" }, labels[index]!.slice(0, 40)),
      svg("rect", { x: labelWidth, y, width: barWidth, height: barHeight, rx: 3 }),
      svg("text", { x: labelWidth + barWidth + 6, y: y + 15 }, String(values[index])),
    );
  });
  return chart;
}

export function download(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const link = h("a", { href: url, download: name, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function formatBytes(size: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
