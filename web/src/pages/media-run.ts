// What the Media tab's parts share: the page's verified state, and running the room's
// computations — SQL results as tables, the audience engine's zipped files (or its refusal, in
// words) — each result sealed by the core to a key made here, checked and opened here.

import { fromUtf8 } from "../bytes";
import { errorText, h } from "../dom";
import { audienceParameter, AudienceRefusedError, REFUSAL_FILE, type AudienceRef, type Group, type MediaConfig } from "../media";
import type { Table } from "../results";
import type { VerifiedRoom, WebSession } from "../session";
import { readZipEntry } from "../zip";
import type { Published } from "./actions";

// The room's nodes (sealroom.media.layout).
export const BASE_TABLES = ["matching", "segments", "demographics", "embeddings"];
export const SEED_TABLE = "audiences";
export const CUSTOM_TABLE = "custom_audiences";
export const OVERLAP = "overlap_statistics";
export const INSIGHTS = "insights";
export const SEED_LIST = "seed_audience_list";
export const CUSTOM_LIST = "custom_audience_list";
export const DATA_ATTRIBUTES = "data_attributes";
export const AUDIENCE_SIZE = "audience_size";
export const USER_LIST = "audience_user_list";
export const LOOKALIKE = "lookalike_statistics";

/** Everything a part of the page needs. */
export interface MediaPage {
  session: WebSession;
  roomId: string;
  room: VerifiedRoom;
  config: MediaConfig;
  group: Group | null;
  nodes: Set<string>;
  published: Published[];
  /** Called after a run the core may have charged to the privacy budget (differential-privacy
   * mode: the budget shown is read again). */
  charged?: () => void;
}

export type Status = (text: string) => void;

/** Run a SQL computation of the room; its result table, verified and opened here. */
export async function runTable(page: MediaPage, node: string, status: Status): Promise<Table> {
  const job = await page.session.run(page.roomId, node);
  status(`Running ${node}…`);
  const result = await page.session.result(job, (s) => status(`Running ${node}: ${s}`));
  return result.table;
}

/** Run a computation that releases rows: the core's SQL, or in differential-privacy mode the
 * audience engine's noisy rows of the same columns (`<node>.json`: {columns, rows, privacy}),
 * as the SQL's table (cells as text; null as ""). */
export async function runRows(page: MediaPage, node: string, status: Status): Promise<Table> {
  const kind = page.room.definition.nodes.find((n) => n.name === node)?.kind;
  if (kind !== "python") return runTable(page, node, status);
  const file = await runEngineFile(page, node, {}, `${node}.json`, status);
  const released = JSON.parse(fromUtf8(file)) as { columns?: unknown; rows?: unknown };
  const { columns, rows } = released;
  if (!Array.isArray(columns) || !Array.isArray(rows) || !rows.every(Array.isArray)) {
    throw new Error(`the result of ${node} has no rows`);
  }
  const cell = (value: unknown): string => (value === null || value === undefined ? "" : String(value));
  return { columns: columns.map(cell), rows: (rows as unknown[][]).map((row) => row.map(cell)) };
}

/** Run an audience engine computation on `audience`; the file `name` of its result, verified
 * and opened here, or AudienceRefusedError with the engine's reason (never a data value). */
export async function runEngine(page: MediaPage, node: string, audience: AudienceRef, name: string, status: Status): Promise<Uint8Array> {
  const parameters: Record<string, string> = { audience: audienceParameter(audience) };
  // audience_user_list also takes the activation column; "" exports the room's default.
  const declared = page.room.definition.nodes.find((n) => n.name === node)?.["parameters"];
  if (Array.isArray(declared) && declared.includes("activation_id")) parameters["activation_id"] = "";
  return runEngineFile(page, node, parameters, name, status);
}

async function runEngineFile(page: MediaPage, node: string, parameters: Record<string, string>, name: string, status: Status): Promise<Uint8Array> {
  const job = await page.session.run(page.roomId, node, parameters);
  status(`Running ${node}…`);
  let archive: Uint8Array;
  try {
    archive = await page.session.resultBytes(job, "zip", (s) => status(`Running ${node}: ${s}`));
  } finally {
    // The core charges a run before it runs it, whatever its outcome.
    page.charged?.();
  }
  const refusal = await readZipEntry(archive, REFUSAL_FILE);
  if (refusal) {
    const reason = (JSON.parse(fromUtf8(refusal)) as { refused?: string }).refused ?? "refused";
    throw new AudienceRefusedError(reason);
  }
  const file = await readZipEntry(archive, name);
  if (!file) throw new Error(`the result of ${node} has no ${name}`);
  return file;
}

/** A button that runs `work` once at a time, with a live status line and errors in words. */
export function runner(label: string, work: (status: Status) => Promise<void>, attrs: Record<string, string> = {}): { button: HTMLButtonElement; line: HTMLElement } {
  const button = h("button", { type: "button", ...attrs }, label) as HTMLButtonElement;
  const line = h("p", { "aria-live": "polite", class: "muted" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    line.classList.remove("error");
    try {
      await work((text) => { line.textContent = text; });
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

