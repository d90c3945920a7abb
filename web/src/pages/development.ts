// The "Development" tab (seed step 10): run ad-hoc computations — SQL, Python or R — over what
// you may already read in the room (data you own, results of computations you are analyst of),
// without adding them to the room. The code editor has, on its side, the "Available data"
// browser: the tables with their columns and the computation results you may read, each chosen
// to be read by (mounted for) the computation. "Run" signs the run with your key and opens the
// result here (a table for SQL; the files and logs of a script); "Create request" takes the code
// to the Requests tab, to be approved by the data owners it affects.

import { dataTable, download, errorText, h, notice, replace } from "../dom";
import { fromUtf8 } from "../bytes";
import { availableData, runDevelopment, scriptResult, tablesOf, type Available, type DevelopmentNode } from "../requests";
import { columnsOf, DATA_KINDS, type Definition } from "../render";
import { WebSession, type VerifiedRoom } from "../session";

/** Where "Create request" leaves the code for the Requests tab (this tab's storage only). */
export const REQUEST_DRAFT_KEY = "sealroom:request-draft";

export type Language = "sql" | "python" | "r";

export interface CodeDraft {
  kind: Language;
  name: string;
  code: string;
  dependencies: string[];
}

const LANGUAGES: [Language, string][] = [["sql", "SQL"], ["python", "Python"], ["r", "R"]];

const EXAMPLES: Record<Language, (inputs: string[]) => string> = {
  sql: (inputs) => `SELECT COUNT(*) AS n\nFROM ${inputs[0] ?? "a_table"}`,
  python: (inputs) =>
    "# Inputs are mounted under /input/<name>/ (a table as dataset.csv); write results to /output.\n" +
    "import csv\n\n" +
    `with open("/input/${inputs[0] ?? "a_table"}/dataset.csv") as f:\n` +
    "    rows = list(csv.reader(f))\n" +
    'print("rows read:", len(rows))\n' +
    'with open("/output/result.csv", "w", newline="") as out:\n' +
    '    csv.writer(out).writerows([["rows"], [len(rows)]])\n',
  r: (inputs) =>
    "# Inputs are mounted under /input/<name>/ (a table as dataset.csv); write results to /output.\n" +
    `rows <- read.csv("/input/${inputs[0] ?? "a_table"}/dataset.csv")\n` +
    'print(nrow(rows))\n' +
    'write.csv(data.frame(rows = nrow(rows)), "/output/result.csv", row.names = FALSE)\n',
};

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const definition = room.definition;
    if (!definition.enable_development) {
      replace(section, notice("info", "The development environment is not enabled in this room: its participants agreed not to ",
        "run computations other than the room's own. (An interactive room can still be changed through the Requests tab.)"));
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

function workbench(session: WebSession, room: VerifiedRoom, available: Available[]): HTMLElement {
  const language = languageSelect("dev-language");
  const name = h("input", { id: "dev-name", type: "text", value: "new_computation", autocomplete: "off", spellcheck: "false" }) as HTMLInputElement;
  const editor = codeEditor("dev-code", 16);
  const browser = dataBrowser("dev-data", room.definition, available);
  const setExample = (): void => {
    editor.value = EXAMPLES[language.value as Language](browser.chosen().length ? browser.chosen() : available.map((a) => a.node.name));
  };
  setExample();
  let edited = false;
  editor.addEventListener("input", () => { edited = true; });
  language.addEventListener("change", () => { if (!edited) setExample(); });
  const run = h("button", { type: "button" }, "Run");
  const createRequest = h("button", { type: "button", class: "secondary" }, "Create request");
  const line = h("p", { "aria-live": "polite", "data-dev-status": "" });
  const out = h("div", { "data-dev-result": "" });

  run.addEventListener("click", async () => {
    run.setAttribute("disabled", "");
    replace(out);
    try {
      const kind = language.value as Language;
      const dependencies = dependenciesFor(kind, editor.value, browser.chosen(), available);
      if (!dependencies.length) throw new Error("Choose the data the computation reads under \"Available data\".");
      const node: DevelopmentNode = kind === "sql"
        ? { kind, name: name.value.trim(), query: editor.value, dependencies }
        : { kind, name: name.value.trim(), script: editor.value, dependencies, enable_logs_on_success: true, enable_logs_on_error: true };
      line.textContent = "Submitted…";
      const job = await runDevelopment(session, room, node);
      const status = (s: string): void => { line.textContent = `Development job ${job.jobId.slice(0, 12)}…: ${s}`; };
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
    const kind = language.value as Language;
    const draft: CodeDraft = {
      kind, name: name.value.trim(), code: editor.value,
      dependencies: dependenciesFor(kind, editor.value, browser.chosen(), available),
    };
    sessionStorage.setItem(REQUEST_DRAFT_KEY, JSON.stringify(draft));
    window.location.assign(`/rooms/${room.roomId}/requests#draft`);
  });

  return h("div", { class: "workbench" },
    h("div", { class: "editor-pane" },
      h("div", { class: "row" },
        h("div", {}, h("label", { for: "dev-language" }, "Language"), language),
        h("div", { class: "grow" }, h("label", { for: "dev-name" }, "Computation name"), name)),
      h("label", { for: "dev-code" }, "Code"),
      editor,
      h("p", { class: "hint", id: "dev-code-hint" }, "Tab indents; press Esc, then Tab, to leave the editor. ",
        "SQL reads the tables it names; a Python or R script reads the inputs chosen under Available data, mounted at /input/<name>/."),
      h("div", { class: "row" }, run, createRequest),
      line, out),
    browser.element);
}

export function languageSelect(id: string, value: Language = "sql"): HTMLSelectElement {
  const select = h("select", { id }, ...LANGUAGES.map(([key, label]) =>
    h("option", { value: key, selected: key === value }, label))) as HTMLSelectElement;
  return select;
}

/** A monospace code editor: a textarea where Tab inserts four spaces (Esc, then Tab, leaves it,
 * so that keyboard users are never trapped). */
export function codeEditor(id: string, rows: number): HTMLTextAreaElement {
  const editor = h("textarea", {
    id, rows, class: "code-editor", spellcheck: "false", autocomplete: "off", autocapitalize: "off",
    "aria-describedby": `${id}-hint`,
  }) as HTMLTextAreaElement;
  let leaving = false;
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      leaving = true;
      return;
    }
    if (event.key === "Tab" && !event.shiftKey && !leaving && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      const { selectionStart: start, selectionEnd: end, value } = editor;
      editor.value = `${value.slice(0, start)}    ${value.slice(end)}`;
      editor.selectionStart = editor.selectionEnd = start + 4;
      editor.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    leaving = false;
  });
  editor.addEventListener("blur", () => { leaving = false; });
  return editor;
}

export interface DataBrowser {
  element: HTMLElement;
  chosen(): string[];
  choose(names: readonly string[]): void;
}

/** The "Available data" browser: the tables (with their columns), files and computation results
 * the user may read, each with a checkbox choosing it as an input of the computation. */
export function dataBrowser(id: string, definition: Definition, available: Available[]): DataBrowser {
  const boxes: HTMLInputElement[] = [];
  const items = available.map(({ node, role }, index) => {
    const boxId = `${id}-${index}`;
    const box = h("input", { type: "checkbox", id: boxId, value: node.name, "data-available": node.name }) as HTMLInputElement;
    boxes.push(box);
    const columns = columnsOf(node);
    const kind = node.kind === "table" ? "table" : node.kind === "raw" ? "file" : `${node.kind.toUpperCase()} result`;
    return h("li", {},
      h("div", { class: "check" }, box, h("label", { for: boxId }, h("code", {}, node.name), " ", h("span", { class: "pill" }, kind))),
      h("p", { class: "hint" }, role === "owner" ? "Your data" : role === "analyst" ? "A result you may read"
        : DATA_KINDS.has(node.kind) ? "Another party's data: its owners approve" : "A computation of the room"),
      columns.length ? h("ul", { class: "columns", "aria-label": `Columns of ${node.name}` },
        ...columns.map((c) => h("li", {}, h("code", {}, c.name), " ", h("span", { class: "muted" }, c.format_type.toLowerCase())))) : null);
  });
  const others = definition.nodes.filter((n) => DATA_KINDS.has(n.kind) && !available.some((a) => a.node.name === n.name));
  const element = h("aside", { class: "data-browser", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, "Available data"),
    available.length
      ? h("fieldset", {}, h("legend", {}, "Read by the computation"), h("ul", { class: "available" }, ...items))
      : h("p", { class: "muted" }, "You may read nothing in this room: you own no dataset and are analyst of no computation."),
    others.length ? h("p", { class: "hint" }, `Not readable by you: ${others.map((n) => n.name).join(", ")} (other parties' data).`) : null);
  return {
    element,
    chosen: () => boxes.filter((b) => b.checked).map((b) => b.value),
    choose: (names) => { for (const b of boxes) b.checked = names.includes(b.value); },
  };
}

/** The nodes a computation reads: those chosen, and for SQL also the available ones its query
 * names (the core checks the query reads nothing else). */
export function dependenciesFor(kind: Language, code: string, chosen: string[], available: Available[]): string[] {
  const names = [...chosen];
  if (kind === "sql") {
    const words = new Set(code.toLowerCase().match(/[a-z_][a-z0-9_]*/g) ?? []);
    for (const { node } of available) if (words.has(node.name.toLowerCase()) && !names.includes(node.name)) names.push(node.name);
  }
  return names;
}

/** A script's output: each CSV as a table, text files (logs) as text, every file downloadable. */
export function showFiles(result: { files: Map<string, Uint8Array> }, name: string): HTMLElement {
  const tables = tablesOf(result);
  const parts: HTMLElement[] = [];
  if (!result.files.size) parts.push(h("p", { class: "muted" }, "The script wrote no file to /output."));
  for (const [file, data] of result.files) {
    const save = h("button", { type: "button", class: "secondary" }, `Download ${file}`);
    save.addEventListener("click", () => download(file.split("/").pop() ?? file, data as BlobPart, "application/octet-stream"));
    const table = tables.get(file);
    let body: HTMLElement | null = null;
    if (table) body = dataTable(table.columns, table.rows);
    else if (data.length <= 200_000) {
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
