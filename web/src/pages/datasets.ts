// The "Datasets" page: for each of your datasets published to a room, its rows and columns from
// the core's validation report of that publication (signed for, by you, its owner).

import { errorText } from "../dom";
import { WebSession } from "../session";

export async function mount(table: HTMLElement): Promise<void> {
  const session = await WebSession.open();
  for (const row of table.querySelectorAll<HTMLElement>("tr[data-dataset-id]")) {
    const place = row.querySelector<HTMLElement>("a[data-room-id]");
    if (!place) continue;
    const rowsCell = row.querySelector<HTMLElement>("[data-rows]")!;
    const columnsCell = row.querySelector<HTMLElement>("[data-columns]")!;
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
      }
    } catch (error) {
      rowsCell.textContent = "?";
      rowsCell.title = errorText(error);
    }
  }
}
