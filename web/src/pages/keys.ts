// "Your signing key": the participant key this browser holds (non-extractable, in IndexedDB),
// with its fingerprint; create one (its only backup is offered at creation), or import the
// SDK's key (`sealroom keys export`) so that the same person signs alike from both.

import { download, errorText, h, notice, replace } from "../dom";
import { createKey, formatFingerprint, importPem, loadKey } from "../keys";

export async function mount(section: HTMLElement): Promise<void> {
  const email = section.dataset["user"]!;
  const status = h("div", { "aria-live": "polite" });
  const render = async (message?: HTMLElement): Promise<void> => {
    const key = await loadKey(email);
    replace(status, message ?? null, key
      ? h("p", {}, "This browser holds your signing key. Fingerprint ",
          h("code", { "data-fingerprint": key.fingerprint }, formatFingerprint(key.fingerprint)),
          `, created ${new Date(key.createdAtMs).toISOString().slice(0, 10)}. It cannot be read out of this browser.`)
      : h("p", {}, "This browser holds no signing key for you yet. One is made the first time you act in a room, or create or import one here."));
  };
  const create = h("button", { type: "button" }, "Create a new signing key");
  create.addEventListener("click", async () => {
    try {
      const existing = await loadKey(email);
      if (existing && !window.confirm("Replace the signing key this browser holds? Rooms that pin the old key will no longer recognise you.")) return;
      const { backupPem } = await createKey(email, { replace: existing !== null });
      await render(backupNotice(email, backupPem));
    } catch (error) {
      await render(notice("error", errorText(error)));
    }
  });
  const pemInput = h("textarea", { id: "pem", rows: 5, "aria-describedby": "pem-hint" }) as HTMLTextAreaElement;
  const importButton = h("button", { type: "button", class: "secondary" }, "Import key");
  importButton.addEventListener("click", async () => {
    try {
      const existing = await loadKey(email);
      await importPem(email, pemInput.value, { replace: existing !== null });
      pemInput.value = "";
      await render(notice("ok", "Imported: this browser now signs with the same key as your SDK."));
    } catch (error) {
      await render(notice("error", errorText(error)));
    }
  });
  replace(section, status,
    h("h2", {}, "Create"), create,
    h("h2", {}, "Use your SDK key here"),
    h("label", { for: "pem" }, "Private key (PEM)"), pemInput,
    h("p", { class: "hint", id: "pem-hint" }, "From `sealroom keys export`. It is imported as a non-extractable key and never sent anywhere."),
    importButton);
  await render();
  section.setAttribute("aria-busy", "false");
}

/** The one-time backup of a key made in this browser. */
export function backupNotice(email: string, pem: string): HTMLElement {
  const save = h("button", { type: "button", class: "secondary" }, "Download backup of my key");
  save.addEventListener("click", () => download(`sealroom-key-${email}.pem`, pem, "application/x-pem-file"));
  return notice("ok", "A signing key was created for you in this browser. ",
    "Download its backup now: it is offered only once, and with it `sealroom keys import` lets the SDK sign as you. Keep it secret. ",
    save);
}
