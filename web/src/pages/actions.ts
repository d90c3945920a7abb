// The "Actions" tab: the datasets you are data owner of, each with the guided provisioning
// wizard (choose a CSV, see its header mapped to the table's schema, encrypt in this browser
// with progress, upload, publish, read the validation report), and the computations you are
// analyst of, each with a "Run" button (the result is decrypted here and shown as a table and
// a chart, downloadable as CSV). Nothing of the file or its key reaches the server in the clear.

import { authHeaders, getJson } from "../api";
import { fromUtf8 } from "../bytes";
import { inspectCsv, SAMPLE_BYTES, type CsvPlan } from "../csvprep";
import { barChart, dataTable, download, errorText, formatBytes, h, notice, replace } from "../dom";
import { columnsOf, DATA_KINDS, type NodeDef } from "../render";
import { WebSession } from "../session";
import { encryptAndUpload } from "../upload";

export interface Published {
  node: string;
  dataset_id: string;
  publisher: string;
  published_at_ms: number;
  validation: string | null;
}

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const me = room.definition.participants.find((p) => sameEmail(p.email, session.email));
    const owned = room.definition.nodes.filter((n) => DATA_KINDS.has(n.kind) && me?.data_owner_of.includes(n.name));
    const analysed = room.definition.nodes.filter((n) => !DATA_KINDS.has(n.kind) && me?.analyst_of.includes(n.name));
    const published = await getJson<Published[]>(`/v1/rooms/${roomId}/datasets`);
    replace(section,
      h("h2", {}, "Datasets you provide"),
      owned.length ? h("div", {}, ...owned.map((node) => datasetCard(session, roomId, node, published)))
        : h("p", { class: "muted" }, "You are data owner of no dataset of this room."),
      h("h2", {}, "Computations you can run"),
      analysed.length ? h("div", {}, ...analysed.map((node) => computationCard(session, roomId, node)))
        : h("p", { class: "muted" }, "You are analyst of no computation of this room."),
    );
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

function sameEmail(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

// -- provisioning ------------------------------------------------------------------------------
export function datasetCard(session: WebSession, roomId: string, node: NodeDef, published: Published[]): HTMLElement {
  const current = published.find((p) => p.node === node.name);
  const status = h("p", { "data-status": "" }, current
    ? `Provisioned: dataset ${current.dataset_id.slice(0, 12)}… by ${current.publisher}` +
      (current.validation ? ` — validation ${current.validation}` : "")
    : "Not provisioned yet.");
  const body = h("div", { class: "wizard" });
  const start = h("button", { type: "button" }, current ? "Provision again" : "Provision dataset");
  start.addEventListener("click", () => {
    start.classList.add("hidden");
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
  return h("div", { class: "card", "data-dataset-node": node.name },
    h("h3", {}, node.name, " ", h("span", { class: "pill" }, node.kind === "table" ? "table" : "file")),
    status, h("div", { class: "row" }, start, current && node.kind === "table" ? reportButton : null), body);
}

function wizard(session: WebSession, roomId: string, node: NodeDef, status: HTMLElement): HTMLElement {
  const table = node.kind === "table";
  const columns = columnsOf(node).map((column) => column.name);
  const inputId = `file-${node.name}`;
  const input = h("input", { id: inputId, type: "file", accept: table ? ".csv,.tsv,.txt,text/csv" : null }) as HTMLInputElement;
  const step2 = h("div", {});
  const root = h("div", { class: "steps" },
    h("label", { for: inputId }, table ? "1. Choose a CSV file" : "1. Choose a file"),
    input,
    table ? h("p", { class: "hint" }, `The table's columns: ${columns.join(", ")}. A header row is matched to them by name.`) : null,
    step2);
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    if (!table) {
      replace(step2, uploadStep(session, roomId, node, file, null, status));
      return;
    }
    const sample = fromUtf8Lenient(new Uint8Array(await file.slice(0, SAMPLE_BYTES).arrayBuffer()));
    const plan = inspectCsv(sample, columns);
    replace(step2, mappingStep(plan, columns), plan.problems.length
      ? notice("error", h("ul", {}, ...plan.problems.map((p) => h("li", {}, p))))
      : uploadStep(session, roomId, node, file, plan, status));
  });
  return root;
}

function fromUtf8Lenient(data: Uint8Array): string {
  try {
    return fromUtf8(data);
  } catch {
    // A sample may cut a multi-byte character at its end.
    return new TextDecoder("utf-8").decode(data);
  }
}

function mappingStep(plan: CsvPlan, columns: string[]): HTMLElement {
  const describe = plan.delimiter === "\t" ? "tab" : JSON.stringify(plan.delimiter);
  return h("div", {},
    h("h4", {}, "2. The file's columns mapped to the table"),
    h("p", {}, `Delimiter ${describe}; ${plan.header ? "a header row, matched by name" : "no header row: columns by position"}.`),
    h("table", { "data-mapping": "" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Table column"), h("th", { scope: "col" }, "From the file"))),
      h("tbody", {}, ...columns.map((column, index) => h("tr", {},
        h("td", {}, h("code", {}, column)),
        h("td", {}, plan.header ? (plan.header[plan.order[index]!] ?? "missing") : `column ${index + 1}`))))),
    plan.preview.length ? dataTable(columns, plan.preview, "The first rows as they will be uploaded (shown only here)") : null);
}

function uploadStep(
  session: WebSession, roomId: string, node: NodeDef, file: File, plan: CsvPlan | null, status: HTMLElement,
): HTMLElement {
  const button = h("button", { type: "button" }, "Encrypt, upload and publish");
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Encryption and upload" }) as HTMLProgressElement;
  const line = h("p", { "aria-live": "polite" });
  const out = h("div", {});
  button.addEventListener("click", async () => {
    button.setAttribute("disabled", "");
    try {
      line.textContent = "Encrypting in this browser and uploading…";
      const uploaded = await encryptAndUpload(file, {
        headers: authHeaders(),
        ...(plan && !plan.asIs ? { reshape: { delimiter: plan.delimiter, header: plan.header, order: plan.order } } : {}),
        onProgress: (done: number, total: number) => {
          progress.max = Math.max(total, 1);
          progress.value = done;
          line.textContent = `Encrypted and uploaded ${formatBytes(done)} of ${formatBytes(total)}`;
        },
      });
      line.textContent = "Sealing the key to the attested core and publishing…";
      const published = await session.publishDataset(roomId, node.name, uploaded.datasetId, uploaded.key);
      const report = published["report"] as Record<string, unknown> | undefined;
      const outcome = published["validation"] ?? (report ? (report["report"] as Record<string, unknown>)?.["outcome"] : null);
      line.textContent = published["published"] === false
        ? "The file failed validation: the dataset that passed before stays published."
        : `Published dataset ${uploaded.datasetId.slice(0, 12)}…${outcome ? ` — validation ${outcome}` : ""}`;
      status.textContent = line.textContent;
      replace(out, report ? renderReport(report, plan?.header ? 1 : 0) : "");
    } catch (error) {
      replace(out, notice("error", errorText(error)));
      line.textContent = "";
    } finally {
      button.removeAttribute("disabled");
    }
  });
  return h("div", {}, h("h4", {}, plan ? "3. Encrypt and publish" : "2. Encrypt and publish"),
    h("p", { class: "hint" }, `${file.name}, ${formatBytes(file.size)}. The file is encrypted in this browser; only ciphertext is uploaded, and its key is sealed to the attested core.`),
    button, progress, line, out);
}

/** The core's validation report as tables: totals, then errors by column and row (numbers,
 * codes and column names only: a report never holds a data value). */
export function renderReport(body: Record<string, unknown>, headerRows: number): HTMLElement {
  const report = (body["report"] ?? body) as Record<string, any>;
  const rows: string[][] = [];
  for (const column of (report["columns"] ?? []) as any[]) {
    for (const error of (column["recordedErrors"] ?? []) as any[]) {
      rows.push([String((error["location"]?.["row"] ?? 0) + headerRows), column["name"], error["code"], error["message"] ?? ""]);
    }
  }
  for (const section of ["schema", "table", "uniqueness"]) {
    for (const error of (report[section]?.["recordedErrors"] ?? []) as any[]) {
      const row = error["row"] ?? error["location"]?.["row"];
      rows.push([row == null ? "" : String(row + headerRows), section, error["code"], error["message"] ?? ""]);
    }
  }
  return h("div", { "data-report": report["outcome"] },
    h("h4", {}, "Validation report"),
    h("table", {}, h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "Outcome"), h("td", { class: report["outcome"] === "PASSED" ? "verified" : "failed" }, report["outcome"])),
      h("tr", {}, h("th", { scope: "row" }, "Rows"), h("td", { class: "num" }, String(report["numRowsTotal"]))),
      h("tr", {}, h("th", { scope: "row" }, "Invalid rows"), h("td", { class: "num" }, String(report["numInvalidRowsTotal"]))))),
    rows.length ? dataTable(["Row", "Column", "Error", "Message"], rows, "Errors found (row numbers as in your file)") : null,
    ...((report["hints"] ?? []) as string[]).map((hint) => h("p", { class: "hint" }, hint)),
    ...((report["warnings"] ?? []) as string[]).map((warning) => h("p", { class: "hint" }, warning)));
}

// -- running -----------------------------------------------------------------------------------
function computationCard(session: WebSession, roomId: string, node: NodeDef): HTMLElement {
  const parameters = Array.isArray(node["parameters"]) ? (node["parameters"] as { name: string }[]) : [];
  const inputs = parameters.map((p) => {
    const id = `param-${node.name}-${p.name}`;
    return { name: p.name, label: h("label", { for: id }, p.name), input: h("input", { id, type: "text" }) as HTMLInputElement };
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
      const result = await session.result(job, (s) => { line.textContent = `Job ${job.jobId.slice(0, 12)}…: ${s}`; });
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
  return h("div", { class: "card", "data-computation": node.name },
    h("h3", {}, node.name, " ", h("span", { class: "pill" }, node.kind.toUpperCase())),
    typeof node["query"] === "string" ? h("pre", {}, h("code", {}, node["query"] as string)) : null,
    ...inputs.flatMap((i) => [i.label, i.input]),
    h("div", { class: "row" }, run), line, out);
}
