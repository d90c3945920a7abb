// "New data clean room": start from a JSON template (or duplicate a room, or from scratch), see
// the definition the server made of it — checked here: its text hashes to the room id and says
// what the template says — test all computations, then "Encrypt and publish", signed with the
// participant's own key.

import { sendJson } from "../api";
import { sha256Hex, utf8 } from "../bytes";
import { errorText, h, download, notice, replace } from "../dom";
import { renderComputations, renderDatasets, renderGraph, renderParticipants, renderSettings, type Definition } from "../render";
import { WebSession } from "../session";
import { mountBuilder } from "./builder";
import { DUPLICATE_KEY } from "./overview";

interface Draft {
  definition: string;
  room_id: string;
  template: string;
}

interface TestReport {
  node: string;
  kind: string;
  status: string;
  error?: string;
  output_schema?: { name: string; type?: string; format_type?: string; nullable?: boolean }[];
  files?: string[];
  logs?: Record<string, string>;
}

export async function mount(section: HTMLElement): Promise<void> {
  const form = section.querySelector<HTMLFormElement>("#draft-form")!;
  const out = section.querySelector<HTMLElement>("#draft")!;
  const fromTemplate = section.querySelector<HTMLElement>("#start-template")!;
  const fromScratch = section.querySelector<HTMLElement>("#start-scratch")!;
  const editor = h("textarea", { id: "template-text", rows: 18 }) as HTMLTextAreaElement;
  // From scratch: the room builder (it has its own Name field), and its template as JSON.
  const builder = h("div", { id: "room-builder" });
  const showJson = (text: string): void => { editor.value = text; };
  fromScratch.replaceChildren(builder, h("details", { class: "builder-json" }, h("summary", {}, "JSON"),
    h("label", { for: "template-text" }, "Definition (JSON template)"), editor,
    h("p", { class: "hint" }, "The format of docs/room-definition.md. Edit it here, then leave the field to see the form follow.")));
  editor.addEventListener("change", () => mountBuilder(builder, editor.value, showJson));
  const duplicate = sessionStorage.getItem(DUPLICATE_KEY);
  if (duplicate && window.location.hash === "#duplicate") {
    sessionStorage.removeItem(DUPLICATE_KEY);
    mountBuilder(builder, duplicate, showJson);
    choose(form, "scratch", fromTemplate, fromScratch);
  } else {
    mountBuilder(builder, null, showJson);
  }
  // Import, then edit: the template's file loaded into the form.
  section.querySelector<HTMLButtonElement>("#edit-template")!.addEventListener("click", async () => {
    const file = section.querySelector<HTMLInputElement>("#template-file")!.files?.[0];
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
    const target = event.target as HTMLInputElement;
    if (target.name === "start") choose(form, target.value, fromTemplate, fromScratch);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scratch = (form.elements.namedItem("start") as RadioNodeList).value === "scratch";
    let text: string;
    if (scratch) {
      text = editor.value;
    } else {
      const file = section.querySelector<HTMLInputElement>("#template-file")!.files?.[0];
      if (!file) {
        replace(out, notice("error", "Choose a JSON template file first."));
        out.classList.remove("hidden");
        return;
      }
      text = await file.text();
    }
    const replaceOwner = section.querySelector<HTMLInputElement>("#replace-owner")!.checked;
    await showDraft(out, text, replaceOwner);
  });
}

function choose(form: HTMLFormElement, start: string, fromTemplate: HTMLElement, fromScratch: HTMLElement): void {
  (form.querySelector<HTMLInputElement>(`input[name=start][value=${start}]`)!).checked = true;
  fromTemplate.classList.toggle("hidden", start !== "template");
  fromScratch.classList.toggle("hidden", start !== "scratch");
}

async function showDraft(out: HTMLElement, text: string, replaceOwner: boolean): Promise<void> {
  out.classList.remove("hidden");
  replace(out, h("p", { class: "muted" }, "Checking the template…"));
  let draft: Draft;
  let definition: Definition;
  try {
    draft = await sendJson<Draft>("/v1/room-drafts", { method: "POST", json: { template: text, replace_owner: replaceOwner } });
    definition = await checkDraft(draft, text);
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
  exportButton.addEventListener("click", () =>
    download(`${definition.name.replace(/[^\w.-]+/g, "_")}.json`, draft.template, "application/json"));
  replace(out,
    h("div", { class: "card" },
      h("h2", {}, definition.name),
      h("p", {}, "Room id once published ", h("code", { "data-draft-room-id": "" }, draft.room_id),
        h("br"), h("span", { class: "verified" }, "✓ "), "checked in this browser: the SHA-256 of the definition below, which says what your template says."),
      h("div", { class: "row" }, testButton, exportButton, publishButton), publishLine),
    tests,
    h("h2", {}, "Compute graph"), h("div", { class: "chart" }, renderGraph(definition)),
    h("h2", {}, "Datasets"), renderDatasets(definition),
    h("h2", {}, "Computations"), renderComputations(definition),
    h("h2", {}, "Participants and permissions"), renderParticipants(definition),
    h("p", { class: "hint" }, "An invitation is sent to each participant as soon as the data clean room is published."),
    h("h2", {}, "Settings"), renderSettings(definition));
}

/** The server's draft, believed only when its text hashes to its id and says what the template
 * says: every field the template sets has the same value in the definition (defaults, the salt,
 * the owner and the platform PKI's identities are what the server may add). */
export async function checkDraft(draft: Draft, templateText: string): Promise<Definition> {
  if ((await sha256Hex(utf8(draft.definition))) !== draft.room_id) {
    throw new Error("the server's draft does not hash to the room id it gave: refusing to publish it");
  }
  const definition = JSON.parse(draft.definition) as Definition;
  const template = JSON.parse(templateText) as Record<string, unknown>;
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
  const added = ((definition["identities"] ?? []) as { email: string; root: string }[])
    .filter((identity) => !((template["identities"] ?? []) as { email: string }[]).some((t) => t.email === identity.email));
  if (added.some((identity) => identity.root !== "platform")) {
    throw new Error("the server's draft recognises a participant by a trust root the template did not name");
  }
  return definition;
}

/** Whether `wanted` (from the template) is what `actual` (the definition) says: equal values,
 * objects compared on the template's keys (the definition adds defaults), lists item by item. */
function covers(wanted: unknown, actual: unknown): boolean {
  if (Array.isArray(wanted)) {
    return Array.isArray(actual) && (wanted.length === actual.length || false) &&
      wanted.every((item, index) => covers(item, actual[index]));
  }
  if (wanted !== null && typeof wanted === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([key, value]) => covers(value, (actual as Record<string, unknown>)[key]));
  }
  if (typeof wanted === "string" && typeof actual === "string" && wanted.includes("@")) {
    return wanted.trim().toLowerCase() === actual.trim().toLowerCase();
  }
  return wanted === actual;
}

async function testAll(definitionText: string): Promise<TestReport[]> {
  const testRun = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const body = `{"test_run":"${testRun}","definition":${definitionText},"test_datasets":{},"parameters":{}}`;
  return (await sendJson<{ results: TestReport[] }>("/v1/test-runs", { method: "POST", jsonText: body })).results;
}

function renderTests(results: TestReport[]): HTMLElement {
  return h("div", { class: "card" }, h("h2", {}, "Test all computations"),
    h("p", { class: "hint" }, "Every computation ran over empty tables: this shows the schema of each result, or its error."),
    ...results.map((report) => h("div", { "data-test-node": report.node, "data-test-status": report.status },
      h("h3", {}, `${report.node} `, h("span", { class: report.status === "success" ? "verified" : "failed" }, report.status)),
      report.error ? notice("error", report.error) : null,
      report.output_schema ? h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Type"))),
        h("tbody", {}, ...report.output_schema.map((column) => h("tr", {},
          h("td", {}, h("code", {}, column.name)), h("td", {}, String(column.format_type ?? column.type ?? "")))))) : null,
      report.files ? h("p", {}, `Files: ${report.files.join(", ")}`) : null,
      ...Object.entries(report.logs ?? {}).map(([name, text]) => h("details", {}, h("summary", {}, name), h("pre", {}, text))))));
}
