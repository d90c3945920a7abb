// The "Audit log" tab: every entry of the room's log, in words, verified in this browser
// against the core's signed checkpoint, and checked to extend the last checkpoint this browser
// saw (a host that rewrote history is caught); downloadable in the format that
// `sealroom audit verify` checks.

import { exportAuditLog, exportText, verifyAuditLog } from "../audit";
import { authHeaders } from "../api";
import { makeFetcher } from "../trust";
import { dataTable, download, errorText, h, notice, replace } from "../dom";
import { WebSession } from "../session";

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
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
    replace(section,
      h("div", { class: "card", "data-verified": "audit" },
        h("p", {}, h("span", { class: "verified" }, "✓ Verified in this browser: "),
          `${log.size} entries, all included in the checkpoint the attested core signed`,
          log.previousSize != null ? `, which extends the checkpoint this browser saw before (${log.previousSize} entries)` : "",
          "."),
        h("p", {}, "Root hash ", h("code", {}, log.rootHash)),
        save),
      dataTable(["#", "Time (UTC)", "Who", "Action", "What"], log.entries.map((entry) => [
        String(entry.seq + 1), entry.time.replace("T", " ").slice(0, 19), entry.user, entry.label,
        entry.description]), undefined, { nowrap: [1] }),
    );
  } catch (error) {
    replace(section, notice("error", `The audit log could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}
