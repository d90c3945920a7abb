// The "Datasets" page: for each of your datasets published to a room, its rows and columns from
// the core's validation report of that publication, and its summary statistics — released by the
// core sealed to a key made here, verified and opened here — with the choice to share them with
// the room's participants (signed, recorded in the room's audit log).

import { dataTable, errorText, h, replace } from "../dom";
import { WebSession } from "../session";

interface ColumnStatistics {
  name: string;
  type: string;
  empty: number;
  distinct: number;
  low?: unknown;
  high?: unknown;
  true?: number;
  false?: number;
  top?: { value: string; count: number }[];
}

export async function mount(table: HTMLElement): Promise<void> {
  const session = await WebSession.open();
  for (const row of table.querySelectorAll<HTMLElement>("tr[data-dataset-id]")) {
    const place = row.querySelector<HTMLElement>("a[data-room-id]");
    const rowsCell = row.querySelector<HTMLElement>("[data-rows]")!;
    const columnsCell = row.querySelector<HTMLElement>("[data-columns]")!;
    const statisticsCell = row.querySelector<HTMLElement>("[data-statistics]")!;
    if (!place) {
      statisticsCell.textContent = "–";
      continue;
    }
    try {
      const roomId = place.dataset["roomId"]!;
      const node = place.dataset["node"]!;
      const room = await session.room(roomId);
      const definition = room.definition.nodes.find((n) => n.name === node);
      const columns = Array.isArray(definition?.["columns"]) ? (definition!["columns"] as { name: string; format_type: string }[]) : [];
      columnsCell.textContent = columns.map((c) => `${c.name} (${c.format_type})`).join(", ") || "file";
      if (columns.length) {
        const report = (await session.validationReport(roomId, node))["report"] as Record<string, unknown>;
        rowsCell.textContent = Number(report["numRowsTotal"]).toLocaleString("en");
        statisticsCell.append(statisticsControl(session, roomId, node, row.dataset["datasetId"]!));
      } else {
        statisticsCell.textContent = "–";
      }
    } catch (error) {
      rowsCell.textContent = "?";
      rowsCell.title = errorText(error);
    }
  }
}

function statisticsControl(session: WebSession, roomId: string, node: string, datasetId: string): HTMLElement {
  const details = h("details", {}, h("summary", {}, "Summary statistics")) as HTMLDetailsElement;
  const body = h("div", { "aria-live": "polite" }, "Loading…");
  details.append(body);
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const statistics = await session.statistics(roomId, node);
      const share = h("input", { type: "checkbox", id: `share-${datasetId}` }) as HTMLInputElement;
      const shareLine = h("span", { "aria-live": "polite" });
      share.addEventListener("change", async () => {
        try {
          await session.shareStatistics(roomId, node, datasetId, share.checked);
          shareLine.textContent = share.checked ? " Shared with the room's participants." : " No longer shared.";
        } catch (error) {
          share.checked = !share.checked;
          shareLine.textContent = ` ${errorText(error)}`;
        }
      });
      replace(body, renderStatistics(statistics),
        h("p", {}, share, " ", h("label", { for: `share-${datasetId}`, class: "inline" }, "Share these statistics with the room's participants"), shareLine));
    } catch (error) {
      replace(body, errorText(error));
    }
  });
  return details;
}

export function renderStatistics(statistics: Record<string, unknown>): HTMLElement {
  const columns = (statistics["columns"] ?? []) as ColumnStatistics[];
  const rows = columns.map((c) => [
    c.name, c.type, String(c.empty), String(c.distinct),
    c.low !== undefined ? `${String(c.low)} – ${String(c.high)}` : c.true !== undefined ? `true ${c.true}, false ${c.false}` : "",
    (c.top ?? []).map((t) => `${t.value} (${t.count})`).join(", "),
  ]);
  return h("div", { "data-statistics-rows": String(statistics["rows"]) },
    h("p", { class: "hint" }, `${Number(statistics["rows"]).toLocaleString("en")} rows. Values held by fewer than ${String(statistics["threshold"])} rows are never shown.`),
    dataTable(["Column", "Type", "Empty", "Distinct", "Range", "Most frequent"], rows));
}
