// The "Overview" tab: the room's definition as the core signed it, verified in this browser —
// the room id is the SHA-256 of the definition text, the core that signed it is the attested
// one — with the compute graph drawn, the participants, export and duplicate.

import { errorText, h, download, notice, replace } from "../dom";
import { roomKind } from "../media";
import { asTemplate, type Definition, renderComputations, renderDatasets, renderGraph, renderParticipants, renderSettings } from "../render";
import { WebSession } from "../session";

export const DUPLICATE_KEY = "sealroom:duplicate-template";

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const definition = room.definition;
    const exportButton = h("button", { type: "button", class: "secondary" }, "Export JSON");
    exportButton.addEventListener("click", () =>
      download(`${definition.name.replace(/[^\w.-]+/g, "_")}.json`, asTemplate(definition), "application/json"));
    const duplicateButton = h("button", { type: "button", class: "secondary" }, "Duplicate");
    duplicateButton.addEventListener("click", () => {
      // A duplicate is your own room: the same datasets, computations and participants, with
      // you as its owner (the template names none, so the draft makes you the owner).
      const { owner: _owner, ...rest } = JSON.parse(asTemplate(definition)) as Record<string, unknown>;
      sessionStorage.setItem(DUPLICATE_KEY, JSON.stringify(rest, null, 2) + "\n");
      window.location.assign("/rooms/new#duplicate");
    });
    replace(section,
      h("div", { class: "card", "data-verified": "room" },
        h("p", {}, h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this definition hashes to the room id, and the attested core signed it",
          room.commits.length ? ` (with ${room.commits.length} approved change${room.commits.length > 1 ? "s" : ""})` : "", "."),
        h("p", {}, "Room id ", h("code", { "data-room-id": roomId }, roomId)),
        h("p", {}, `Status: ${room.status}`),
        h("div", { class: "row" }, exportButton, duplicateButton)),
      description(definition, roomId),
      h("h2", {}, "Compute graph"), h("div", { class: "chart" }, renderGraph(definition)),
      h("h2", {}, "Datasets"), renderDatasets(definition),
      h("h2", {}, "Computations"), renderComputations(definition),
      h("h2", {}, "Participants and permissions"), renderParticipants(definition),
      h("h2", {}, "Settings"), renderSettings(definition),
    );
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

/** The room's description; a media room's or DataLab's is its configuration (JSON after a
 * marker), which its own tab shows in words. */
function description(definition: Definition, roomId: string): HTMLElement | null {
  const kind = roomKind(definition);
  if (kind === "media" || kind === "data-lab") {
    const [page, words] = kind === "media" ? ["media", "a media clean room"] : ["data-lab", "a DataLab"];
    return h("p", {}, `This room is ${words}: its configuration is in its description, shown in words on the `,
      h("a", { href: `/rooms/${roomId}/${page}` }, kind === "media" ? "Media" : "DataLab"), " tab.");
  }
  return definition.description ? h("p", {}, definition.description) : null;
}
