// The Media tab's audiences: all base users, the seed audiences and the custom audiences meant
// for the user's group, each with what the group may run on it (size, user list export,
// lookalike quality) and, for the group's own, sharing and deleting; and the form that creates
// remarketing, exclusion-targeting, rule-based (media-rules.ts) and lookalike audiences. Every
// change is written as the SDK's MediaDcr writes it: the whole `custom_audiences` table again,
// read fresh from the room and changed by the SDK's rules (media.ts: afterSharing,
// afterDeleting, checked against the SDK's methods), encrypted here with a fresh key and
// published with that key sealed to the attested core.

import { ApiError, authHeaders, getJson } from "../api";
import { fromUtf8 } from "../bytes";
import { download, errorText, h, replace } from "../dom";
import {
  afterDeleting,
  afterSharing,
  attributesOf,
  audienceParameter,
  audiencesFor,
  can,
  countOf,
  createdAtNow,
  customAudienceOf,
  customAudienceRow,
  definitionWords,
  dependentsOf,
  dependsOn,
  formatCount,
  kindEnabled,
  newAudienceId,
  ruleBasedDefinition,
  type AudienceRef,
  type CustomAudience,
  type MediaConfig,
  type SeedAudience,
} from "../media";
import { encryptAndUpload } from "../upload";
import {
  AUDIENCE_SIZE,
  CUSTOM_LIST,
  CUSTOM_TABLE,
  DATA_ATTRIBUTES,
  LOOKALIKE,
  runEngine,
  runner,
  runTable,
  SEED_LIST,
  SEED_TABLE,
  USER_LIST,
  type MediaPage,
  type Status,
} from "./media-run";
import type { Published } from "./actions";
import { ruleFields, type RuleSource } from "./media-rules";

interface Book {
  seed: SeedAudience[];
  /** Every custom audience of the room (every participant may read every definition). */
  all: CustomAudience[];
  /** Sizes released so far, by the audience's parameter text (kept when the list is redrawn). */
  sizes: Map<string, number | null>;
  /** What `data_attributes` released (read once, when a rule-based audience is first made). */
  attributes?: Promise<Map<string, string[]>> | undefined;
}

async function loadSeed(page: MediaPage, status: Status): Promise<SeedAudience[]> {
  if (!page.published.some((p) => p.node === SEED_TABLE)) return [];
  return (await runTable(page, SEED_LIST, status)).rows.map(([type = "", size]) => ({ audienceType: type, size: countOf(size) }));
}

async function loadCustom(page: MediaPage, status: Status): Promise<CustomAudience[]> {
  if (!page.published.some((p) => p.node === CUSTOM_TABLE)) return [];
  return (await runTable(page, CUSTOM_LIST, status)).rows.map(customAudienceOf);
}

export function audiencesSection(page: MediaPage): HTMLElement {
  const out = h("div", { "data-audiences": "" });
  const { button, line } = runner("Show audiences", async (status) => {
    const book: Book = { seed: await loadSeed(page, status), all: await loadCustom(page, status), sizes: new Map() };
    status("The audiences, verified and decrypted in this browser.");
    const draw = (): void => replace(out, ...audienceViews(page, book, status, async () => {
      // After a new audience: the definitions as the room now has them.
      book.all = await loadCustom(page, status);
      draw();
    }));
    draw();
  });
  return h("section", { "data-section": "audiences" },
    h("h2", {}, "Audiences"),
    h("p", { class: "hint" },
      "The seed audiences the advertiser provided, and the audiences built from them and the base audience. ",
      "Every participant can read every audience definition; sharing says which groups an audience is meant for."),
    button, line, out);
}

function audienceViews(page: MediaPage, book: Book, status: Status, reload: () => Promise<void>): (HTMLElement | null)[] {
  const names = new Map(book.all.map((a) => [a.id, a.name]));
  const mine = audiencesFor(page.group, book.all);
  const mayRun = (node: string, ...permissions: string[]): boolean => page.nodes.has(node) && can(page.group, ...permissions);
  const maySize = mayRun(AUDIENCE_SIZE, "CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE");
  const mayExport = mayRun(USER_LIST, "EXPORT_AUDIENCE");
  const mayJudge = mayRun(LOOKALIKE, "MODEL_QUALITY", "CREATE_CUSTOM_AUDIENCE") && kindEnabled(page.config, "LOOKALIKE");
  // Sharing and deleting: the group's own audiences, by those who may create them (the SDK's rule).
  const mayChange = page.nodes.has(CUSTOM_TABLE) && can(page.group, "CREATE_CUSTOM_AUDIENCE");
  const anyAction = maySize || mayExport || mayJudge || mayChange;
  const details = h("div", { "data-audience-details": "" });
  const rows: { name: string; ref: AudienceRef; what: string; lookalike: boolean; own?: CustomAudience }[] = [
    { name: "All base users", ref: { kind: "BASE" }, what: "The publisher's whole base audience", lookalike: false },
    ...book.seed.map((seed) => ({
      name: seed.audienceType,
      ref: { kind: "SEED", audienceType: seed.audienceType } as AudienceRef,
      what: "Seed audience: the base users it matches" +
        (seed.size === null ? "" : ` (the advertiser provided ${formatCount(seed.size)} ids)`),
      lookalike: false,
    })),
    ...mine.map((audience) => ({
      name: audience.name,
      ref: { kind: "CUSTOM", id: audience.id } as AudienceRef,
      what: `${definitionWords(audience.definition, names)} (by ${audience.createdBy}` +
        (audience.sharedWith.length ? `, shared with ${audience.sharedWith.map((g) => groupName(page.config, g)).join(", ")}` : "") + ")",
      lookalike: audience.definition["kind"] === "LOOKALIKE",
      own: audience.createdByGroup === page.group?.id ? audience : undefined,
    })),
  ];
  const table = h("table", { "data-audience-table": "" },
    h("caption", { class: "muted" }, "Sizes are counted in the core when you ask, and rounded as the room's privacy says."),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Audience"), h("th", { scope: "col" }, "What it is"),
      h("th", { scope: "col", class: "num" }, "Size"), anyAction ? h("th", { scope: "col" }, "Actions") : null)),
    h("tbody", {}, ...rows.map((row) => {
      const size = h("td", { class: "num", "data-field": "size" }, "–");
      const showSize = (value: number | null): void => {
        size.textContent = formatCount(value);
        size.dataset["value"] = value === null ? "" : String(value);
      };
      const known = book.sizes.get(audienceParameter(row.ref));
      if (known !== undefined) showSize(known);
      const buttons: HTMLElement[] = [];
      if (maySize) {
        buttons.push(action(`Size`, `Size of ${row.name}`, status, async (say) => {
          const result = JSON.parse(fromUtf8(await runEngine(page, AUDIENCE_SIZE, row.ref, "audience_size.json", say))) as { size: number | null };
          book.sizes.set(audienceParameter(row.ref), result.size);
          showSize(result.size);
          say(`${row.name}: ${result.size === null ? `fewer than ${formatCount(page.config.privacy.minimumAudienceSize)} people (too small to release)` : `${formatCount(result.size)} people`}.`);
        }));
      }
      if (mayExport) {
        buttons.push(action("Export user list", `Export user list of ${row.name}`, status, async (say) => {
          const file = await runEngine(page, USER_LIST, row.ref, "audience_users.csv", say);
          const count = fromUtf8(file).split("\n").filter((l) => l !== "").length;
          download(`${row.name.replace(/[^\w.-]+/g, "_")}-users.csv`, file as BlobPart, "text/csv");
          say(`${row.name}: ${formatCount(count)} activation ids downloaded (decrypted in this browser only).`);
        }));
      }
      if (mayJudge && row.lookalike) {
        buttons.push(action("Model quality", `Model quality of ${row.name}`, status, async (say) => {
          const quality = JSON.parse(fromUtf8(await runEngine(page, LOOKALIKE, row.ref, "lookalike_audience.json", say))) as Record<string, any>;
          replace(details, lookalikeQuality(row.name, quality));
          say(`${row.name}: the lookalike model's quality, below.`);
        }));
      }
      const own = row.own;
      if (mayChange && own) {
        buttons.push(action("Share", `Share ${row.name}`, status, async () => {
          replace(details, shareForm(page, own, status, reload));
          (details.querySelector<HTMLElement>("input:not([disabled])") ?? details.querySelector<HTMLElement>("button"))?.focus();
        }));
        buttons.push(action("Delete", `Delete ${row.name}`, status, async () => {
          replace(details, deleteForm(page, book, own, status, reload));
          details.querySelector<HTMLElement>("input, button")?.focus();
        }));
      }
      return h("tr", { "data-audience": row.name },
        h("th", { scope: "row" }, row.name), h("td", {}, row.what), size,
        buttons.length ? h("td", { class: "nowrap" }, ...buttons.flatMap((b) => [b, " "])) : (anyAction ? h("td", {}) : null));
    })));
  const others = book.all.length - mine.length;
  return [
    table,
    others > 0 ? h("p", { class: "muted" }, `${others} more audience${others > 1 ? "s were" : " was"} made by other groups and not shared with yours.`) : null,
    details,
    createForm(page, book, status, reload),
  ];
}

function groupName(config: MediaConfig, idOrRole: string): string {
  return config.participantGroups.find((g) => g.id === idOrRole)?.role ?? idOrRole;
}

// -- sharing and deleting ------------------------------------------------------------------------
/** Refuse a change of `audience` when the definitions read fresh no longer hold it. */
function mustHold(current: CustomAudience[], audience: CustomAudience): void {
  if (!current.some((a) => a.id === audience.id)) throw new Error(`the audience “${audience.name}” no longer exists: reload the audiences`);
}

/** Share one of the group's audiences with more groups (MediaDcr.share_audiences). Sharing
 * says which groups an audience is meant for; it is never withdrawn (as in the SDK). */
function shareForm(page: MediaPage, audience: CustomAudience, status: Status, after: () => Promise<void>): HTMLElement {
  const others = page.config.participantGroups.filter((g) => g.id !== page.group?.id);
  const already = (g: { id: string; role: string }): boolean => audience.sharedWith.includes(g.id) || audience.sharedWith.includes(g.role);
  const boxes = others.map((g) => ({
    group: g,
    box: h("input", { type: "checkbox", id: `share-now-${g.id}`, checked: already(g), disabled: already(g) }) as HTMLInputElement,
  }));
  const { button, line } = runner("Share now", async (say) => {
    const chosen = boxes.filter((b) => b.box.checked && !b.box.disabled).map((b) => b.group.id);
    if (chosen.length === 0) throw new Error("tick a group to share it with");
    await changeCustomAudiences(page, say, (current) => {
      mustHold(current, audience);
      return afterSharing(current, [audience.id], chosen, page.group!.id);
    });
    await after();
    status(`Shared the audience “${audience.name}” with ${chosen.map((id) => groupName(page.config, id)).join(", ")}.`);
  }, { "data-confirm-share": audience.name });
  return h("section", { class: "card", "data-share-audience": audience.name },
    h("h3", {}, `Share “${audience.name}”`),
    others.length
      ? h("fieldset", {}, h("legend", {}, "With the groups"),
          ...boxes.map((b) => h("div", { class: "check" }, b.box,
            h("label", { for: b.box.id }, b.group.role, already(b.group) ? " (already shared)" : ""))))
      : h("p", { class: "muted" }, "There is no other group to share it with."),
    h("p", { class: "hint" }, "Every participant can read every definition; sharing says which groups the audience is meant for, and shows it in their list."),
    button, line);
}

/** Delete one of the group's audiences (MediaDcr.delete_audiences): one that others are built
 * on only with them ("with dependents"), and never another group's. */
function deleteForm(page: MediaPage, book: Book, audience: CustomAudience, status: Status, after: () => Promise<void>): HTMLElement {
  const dependents = dependentsOf(book.all, audience.id);
  const theirs = dependents.filter((a) => a.createdByGroup !== page.group?.id);
  const withDependents = h("input", { type: "checkbox", id: "delete-with-dependents" }) as HTMLInputElement;
  const { button, line } = runner("Delete now", async (say) => {
    let gone = 0;
    await changeCustomAudiences(page, say, (current) => {
      mustHold(current, audience);
      const remaining = afterDeleting(current, [audience.id], withDependents.checked, page.group!.id);
      gone = current.length - remaining.length;
      return remaining;
    });
    await after();
    status(`Deleted the audience “${audience.name}”` + (gone > 1 ? ` and ${gone - 1} audience${gone > 2 ? "s" : ""} built on it.` : "."));
  }, { "data-confirm-delete": audience.name });
  return h("section", { class: "card", "data-delete-audience": audience.name },
    h("h3", {}, `Delete “${audience.name}”`),
    dependents.length
      ? h("div", {},
          h("p", {}, "These audiences are built on it: ",
            dependents.map((a) => `“${a.name}”${a.createdByGroup === page.group?.id ? "" : ` (of ${groupName(page.config, a.createdByGroup)})`}`).join(", "), "."),
          theirs.length
            ? h("p", { class: "error" }, "Another group's audience is built on it: they must delete theirs first, so it cannot be deleted now.")
            : h("div", { class: "check" }, withDependents, h("label", { for: withDependents.id }, "Delete them too")))
      : h("p", {}, "No other audience is built on it."),
    theirs.length ? null : h("p", { class: "hint" }, "The room's audience definitions are published again without it. Sizes and user lists already exported stay where they are."),
    theirs.length ? null : button, line);
}

/** A small button in an audience's row; its work reports on the section's status line. */
function action(label: string, accessibleName: string, status: Status, work: (say: Status) => Promise<void>): HTMLElement {
  const button = h("button", { type: "button", class: "secondary", "aria-label": accessibleName }, label) as HTMLButtonElement;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await work(status);
    } catch (error) {
      status(`${accessibleName}: ${errorText(error)}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function lookalikeQuality(name: string, quality: Record<string, any>): HTMLElement {
  const roc = quality["quality"]?.["roc_curve"];
  const activation = Object.entries((quality["activation_ids"] ?? {}) as Record<string, any>);
  return h("div", { class: "card", "data-lookalike-quality": name },
    h("h3", {}, `Lookalike model: ${name}`),
    h("ul", {},
      h("li", {}, `Source audience: ${formatCount(quality["seed_audience_size"] ?? null)} people.`),
      roc && typeof roc["auc"] === "number"
        ? h("li", { "data-auc": roc["auc"] }, `Area under the ROC curve on held-out users: ${roc["auc"].toFixed(3)} (0.5 is a guess, 1 is perfect).`)
        : h("li", {}, "No ROC curve is released in this room's privacy mode.")),
    ...activation.map(([column, entry]) => h("table", {},
      h("caption", { class: "muted" }, `${column}: addressable ${formatCount(entry["addressable_audience_size"] ?? null)}; the audience at each reach`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "Reach"), h("th", { scope: "col", class: "num" }, "Size"),
        h("th", { scope: "col", class: "num" }, "True positive rate"), h("th", { scope: "col", class: "num" }, "False positive rate"))),
      h("tbody", {}, ...((entry["filtered_audiences"] ?? []) as any[]).map((f) => h("tr", {},
        h("td", { class: "num" }, `${f["reach"]} %`), h("td", { class: "num" }, formatCount(f["size"] ?? null)),
        h("td", { class: "num" }, String(f["quality"]?.["roc_curve"]?.["tpr"] ?? "–")),
        h("td", { class: "num" }, String(f["quality"]?.["roc_curve"]?.["fpr"] ?? "–"))))))));
}

// -- creating an audience ----------------------------------------------------------------------
const KIND_WORDS: [string, string][] = [
  ["REMARKETING", "Remarketing: the base users in a seed audience"],
  ["EXCLUSION_TARGETING", "Exclusion targeting: the base users not in a seed audience"],
  ["RULE_BASED", "Rule-based: filtered by segment, age or gender, and combined"],
  ["LOOKALIKE", "Lookalike: the base users most like an audience"],
];

function createForm(page: MediaPage, book: Book, status: Status, after: () => Promise<void>): HTMLElement | null {
  if (!can(page.group, "CREATE_CUSTOM_AUDIENCE") || !page.nodes.has(CUSTOM_TABLE)) return null;
  const kinds = KIND_WORDS.filter(([kind]) => kindEnabled(page.config, kind));
  if (kinds.length === 0) return null;
  const field = (id: string, label: string, control: HTMLElement, hint?: string): HTMLElement =>
    h("div", { "data-field": id }, h("label", { for: id }, label), control, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);
  const kind = h("select", { id: "audience-kind" }, ...kinds.map(([value, words]) => h("option", { value }, words))) as HTMLSelectElement;
  const name = h("input", { id: "audience-name", type: "text", maxlength: 200, autocomplete: "off" }) as HTMLInputElement;
  const seed = h("select", { id: "audience-seed" },
    ...book.seed.map((s) => h("option", { value: s.audienceType }, s.audienceType))) as HTMLSelectElement;
  const source = h("select", { id: "audience-source" },
    ...book.seed.map((s) => h("option", { value: JSON.stringify({ kind: "SEED", audienceType: s.audienceType }) }, `Seed audience ${s.audienceType}`)),
    ...audiencesFor(page.group, book.all).map((a) => h("option", { value: JSON.stringify({ kind: "CUSTOM", id: a.id }) }, a.name))) as HTMLSelectElement;
  const reach = h("input", { id: "audience-reach", type: "number", min: 1, max: 30, step: 1, value: 10, "aria-describedby": "audience-reach-hint" }) as HTMLInputElement;
  const exclude = h("input", { id: "audience-exclude", type: "checkbox", checked: true }) as HTMLInputElement;
  const others = page.config.participantGroups.filter((g) => g.id !== page.group?.id);
  const shares = others.map((g) => ({ group: g, box: h("input", { id: `share-${g.id}`, type: "checkbox" }) as HTMLInputElement }));
  const seedField = field("audience-seed", "Seed audience", seed);
  const lookalikeFields = h("div", {},
    field("audience-source", "Source audience", source),
    field("audience-reach", "Reach (percent of the base audience, 1 to 30)", reach, "The audience is this share of the base users most like the source."),
    h("div", { class: "check" }, exclude, h("label", { for: "audience-exclude" }, "Leave out the source audience's own users")));
  // Rule-based: drawn once the attributes the room releases are read (the first time the kind
  // is chosen; kept in the book for the form drawn again after a change).
  const ruleHolder = h("div", { "data-rule-holder": "" });
  let rules: ReturnType<typeof ruleFields> | null = null;
  const ruleSources: RuleSource[] = [
    { label: "All base users", ref: { kind: "BASE" } },
    ...book.seed.map((s): RuleSource => ({ label: `Seed audience ${s.audienceType}`, ref: { kind: "SEED", audienceType: s.audienceType } })),
    ...audiencesFor(page.group, book.all).map((a): RuleSource => ({ label: a.name, ref: { kind: "CUSTOM", id: a.id } })),
  ];
  const showRules = async (): Promise<void> => {
    if (rules) return;
    replace(ruleHolder, h("p", { class: "muted", role: "status" }, "Reading the attributes the room releases…"));
    try {
      book.attributes ??= page.nodes.has(DATA_ATTRIBUTES)
        ? runTable(page, DATA_ATTRIBUTES, () => undefined).then((table) => attributesOf(table.rows))
        : Promise.resolve(new Map());
      rules = ruleFields(ruleSources, await book.attributes);
      replace(ruleHolder, rules.element);
    } catch (error) {
      book.attributes = undefined;
      replace(ruleHolder, h("p", { class: "error", role: "alert" }, `The attributes could not be read: ${errorText(error)}`));
    }
  };
  const sync = (): void => {
    const lookalike = kind.value === "LOOKALIKE";
    const rule = kind.value === "RULE_BASED";
    seedField.classList.toggle("hidden", lookalike || rule);
    lookalikeFields.classList.toggle("hidden", !lookalike);
    ruleHolder.classList.toggle("hidden", !rule);
    if (rule) void showRules();
  };
  kind.addEventListener("change", sync);
  sync();
  const { button, line } = runner("Create audience", async (say) => {
    const draft = draftOf();
    // The definitions as they are now (someone may have added one since the list was shown, or
    // add one while this one is written): the new table is all of them plus this one.
    const audience: CustomAudience = {
      id: newAudienceId(),
      name: draft.name,
      createdBy: page.session.email,
      createdAt: createdAtNow(),
      sharedWith: draft.shareWith,
      definition: draft.definition,
      createdByGroup: page.group!.id,
    };
    await changeCustomAudiences(page, say, (current) => {
      if (current.some((a) => a.name === draft.name)) throw new Error(`an audience named “${draft.name}” exists: choose another name`);
      const known = new Set(current.map((a) => a.id));
      for (const id of dependsOn(draft.definition)) {
        if (!known.has(id)) throw new Error("the source audience no longer exists: reload the audiences");
      }
      return [...current, audience];
    });
    say(`Created the audience “${audience.name}”. Reading the audiences again…`);
    // The section is drawn again (this form with it): its status line says what happened.
    await after();
    status(`Created the audience “${audience.name}”.`);
  });
  const draftOf = (): { name: string; definition: Record<string, unknown>; shareWith: string[] } => {
    const text = name.value.trim();
    if (!text) throw new Error("give the audience a name");
    const shareWith = shares.filter((s) => s.box.checked).map((s) => s.group.id);
    if (kind.value === "RULE_BASED") {
      if (!rules) throw new Error("the attributes the room releases are still being read: try again in a moment");
      return { name: text, shareWith, definition: ruleBasedDefinition(rules.value()) };
    }
    if (kind.value === "LOOKALIKE") {
      const percent = Number(reach.value);
      if (!Number.isInteger(percent) || percent < 1 || percent > 30) throw new Error("the reach is a whole number of percent from 1 to 30");
      if (!source.value) throw new Error("choose a source audience");
      return { name: text, shareWith, definition: {
        kind: "LOOKALIKE", sourceRef: JSON.parse(source.value) as Record<string, unknown>, reach: percent, excludeSeedAudience: exclude.checked,
      } };
    }
    if (!seed.value) throw new Error("choose a seed audience (none is provisioned yet)");
    return { name: text, shareWith, definition: { kind: kind.value, seedAudienceRef: { audienceType: seed.value } } };
  };
  const form = h("form", { class: "card", "data-create-audience": "", novalidate: true },
    h("h3", {}, "Create an audience"),
    field("audience-kind", "Kind", kind),
    field("audience-name", "Audience name", name),
    seedField, lookalikeFields, ruleHolder,
    shares.length ? h("fieldset", {}, h("legend", {}, "Share with"),
      ...shares.map((s) => h("div", { class: "check" }, s.box, h("label", { for: s.box.id }, s.group.role)))) : null,
    h("p", { class: "hint" }, "The definitions are encrypted in this browser with a fresh key and published to the room; the core sizes and exports them."),
    button, line);
  // Enter in a field submits the form, which clicks its submit button (implicit submission):
  // the button's click creates the audience; the submission itself never loads a page.
  button.type = "submit";
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

/** Write `audiences` as the new `custom_audiences` dataset: CSV rows as CustomAudience.to_row,
 * encrypted here with a fresh key (nobody needs it again: the core holds it, sealed, for this
 * room only), uploaded, and published with the key sealed to the attested core. A table that
 * fails validation does not replace the one that passed. */
async function writeCustomAudiences(page: MediaPage, audiences: CustomAudience[], replaces: string, say: Status): Promise<void> {
  const text = audiences.map((a) => customAudienceRow(a).map(csvField).join(",") + "\n").join("");
  say("Encrypting the audience definitions in this browser and uploading them…");
  const uploaded = await encryptAndUpload(new Blob([text], { type: "text/csv" }), { headers: authHeaders(), name: "custom audiences" });
  say("Sealing the key to the attested core and publishing…");
  const published = await page.session.publishDataset(page.roomId, CUSTOM_TABLE, uploaded.datasetId, uploaded.key, false, replaces);
  const report = (published["report"] as Record<string, any> | undefined)?.["report"];
  if (published["published"] === false || report?.["outcome"] === "FAILED") {
    throw new Error("the core refused the new audience definitions (their validation failed); nothing changed");
  }
  page.published = page.published.filter((p) => p.node !== CUSTOM_TABLE);
  page.published.push({ node: CUSTOM_TABLE, dataset_id: uploaded.datasetId, publisher: page.session.email, published_at_ms: Date.now(), validation: report?.["outcome"] ?? null });
  const row = document.querySelector(`[data-provisioned] tr[data-table="${CUSTOM_TABLE}"]`);
  if (row) {
    row.setAttribute("data-published", "yes");
    row.querySelector("td")!.textContent = `Provisioned by ${page.session.email} just now` + (report?.["outcome"] ? ` — validation ${report["outcome"]}` : "");
  }
}

/** Times a change is read and applied again when another participant published definitions
 * in between (MediaDcr._change_custom's CUSTOM_RETRIES). */
const CUSTOM_RETRIES = 5;

/** Read the definitions, apply `change` (which throws to refuse), and publish the result on
 * condition that nobody published others in between (the core checks it under the room's
 * lock); if someone did, read theirs and apply `change` again: nobody's change is lost
 * (MediaDcr._change_custom). */
async function changeCustomAudiences(page: MediaPage, say: Status, change: (current: CustomAudience[]) => CustomAudience[]): Promise<void> {
  for (let attempt = 0; attempt < CUSTOM_RETRIES; attempt++) {
    say("Reading the current audience definitions…");
    // The dataset id first: the definitions read next are that dataset or a later one, and a
    // later one makes the condition fail.
    page.published = await getJson<Published[]>(`/v1/rooms/${page.roomId}/datasets`);
    const read = page.published.find((p) => p.node === CUSTOM_TABLE)?.dataset_id ?? "";
    const current = read ? await loadCustom(page, say) : [];
    try {
      await writeCustomAudiences(page, change(current), read, say);
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "dataset_changed")) throw error;
    }
  }
  throw new Error(`the audience definitions changed ${CUSTOM_RETRIES} times while this change was being made: try again`);
}

/** A CSV field as Python's csv module writes it (quoted only when it holds , " CR or LF). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
