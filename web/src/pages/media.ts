// The "Media" tab of a media clean room (sealroom.media): the configuration every participant
// agreed to, what is provisioned, and — for the logged-in person's group only — what it may do:
// the overlap, insights, the audiences (sizes, user lists, lookalike quality) and new
// remarketing, exclusion-targeting and lookalike audiences.
//
// Everything runs as the SDK's MediaDcr does, over the same computations, with this browser's
// keys: results are sealed by the core to a key made here for each job, checked against the
// core's signature and opened here; a new audience definition is written into the
// `custom_audiences` table as a new dataset, encrypted here with a fresh key and published with
// that key sealed to the attested core. Controls are offered only for what the group's
// permissions allow; the core refuses the rest anyway (and says so, which is shown in words).

import { authHeaders, getJson } from "../api";
import { fromUtf8 } from "../bytes";
import { download, errorText, h, notice, replace } from "../dom";
import {
  activationColumns,
  assembleInsights,
  assembleOverlap,
  audienceParameter,
  audiencesFor,
  AGGREGATION_WORDS,
  AudienceRefusedError,
  can,
  COLLABORATION_WORDS,
  countOf,
  createdAtNow,
  customAudienceOf,
  customAudienceRow,
  definitionWords,
  dependsOn,
  formatCount,
  formatShare,
  groupOf,
  kindEnabled,
  mediaConfigOf,
  newAudienceId,
  permissionWords,
  REFUSAL_FILE,
  type AudienceRef,
  type CustomAudience,
  type Group,
  type Insights,
  type MediaConfig,
  type SeedAudience,
} from "../media";
import type { Table } from "../results";
import { WebSession, type VerifiedRoom } from "../session";
import { encryptAndUpload } from "../upload";
import { readZipEntry } from "../zip";
import { datasetCard, type Published } from "./actions";

// The room's nodes (sealroom.media.layout).
const BASE_TABLES = ["matching", "segments", "demographics", "embeddings"];
const SEED_TABLE = "audiences";
const CUSTOM_TABLE = "custom_audiences";
const OVERLAP = "overlap_statistics";
const INSIGHTS = "insights";
const SEED_LIST = "seed_audience_list";
const CUSTOM_LIST = "custom_audience_list";
const AUDIENCE_SIZE = "audience_size";
const USER_LIST = "audience_user_list";
const LOOKALIKE = "lookalike_statistics";

const TABLE_WORDS: Record<string, string> = {
  matching: "Base audience: identifiers",
  segments: "Base audience: segments",
  demographics: "Base audience: demographics",
  embeddings: "Base audience: embeddings",
  audiences: "Seed audiences",
  custom_audiences: "Audience definitions",
};

/** Everything a part of the page needs. */
interface MediaPage {
  session: WebSession;
  roomId: string;
  room: VerifiedRoom;
  config: MediaConfig;
  group: Group | null;
  nodes: Set<string>;
  published: Published[];
}

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const config = mediaConfigOf(room.definition);
    const page: MediaPage = {
      session,
      roomId,
      room,
      config,
      group: groupOf(config, session.email),
      nodes: new Set(room.definition.nodes.map((node) => node.name)),
      published: await getJson<Published[]>(`/v1/rooms/${roomId}/datasets`),
    };
    replace(section,
      h("div", { class: "card", "data-verified": "media" },
        h("p", {}, h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this configuration is part of the room's definition, which hashes to the room id and was signed by the attested core. ",
          "Nobody can change it after publication."),
        h("p", {}, "Room id ", h("code", {}, roomId))),
      h("h2", {}, "Configuration"), configuration(config, page.group),
      h("h2", {}, "What is provisioned"), provisioned(page),
      h("h2", {}, "What your group can do"), yourGroup(page),
      overlapSection(page),
      insightsSection(page),
      audiencesSection(page),
    );
  } catch (error) {
    replace(section, notice("error", `This media clean room could not be shown: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

// -- configuration -----------------------------------------------------------------------------
function configuration(config: MediaConfig, mine: Group | null): HTMLElement {
  const privacy = config.privacy;
  const matching = config.baseAudience.identifiersConfig.filter((c) => c.isMatchingId && c.idType === config.matchingIdType);
  const activation = activationColumns(config);
  return h("div", { "data-media-config": "" },
    h("ul", {},
      h("li", {}, `Seed audiences are matched to the base audience on ${config.matchingIdType.toLowerCase().replace(/_/g, " ")}`,
        matching.length ? ` (the base audience's ${matching.map((c) => c.idName).join(", ")})` : "", "."),
      h("li", {}, "Collaboration types: ",
        config.collaborationTypes.map((c) => COLLABORATION_WORDS[c] ?? c).join(", "), "."),
      h("li", { "data-privacy": privacy.mode }, privacy.mode === "DIFFERENTIAL_PRIVACY"
        ? `Privacy: differential privacy. Every audience size costs ε = ${privacy.epsilonPerRun} of the room's budget of ε = ${privacy.epsilonBudget}, ` +
          "and the core refuses runs past it; the overlap and insights are not computed in this mode."
        : "Privacy: rounding. Sizes are rounded to the nearest 100, insight groups to the nearest 50."),
      h("li", { "data-minimum-audience-size": privacy.minimumAudienceSize },
        `Minimum audience size: ${formatCount(privacy.minimumAudienceSize)}. An overlap or audience with fewer people is never released, neither its size nor its users.`),
      h("li", {}, `Insight groups of fewer than ${formatCount(config.minimumGroupSize)} people are left out.`),
      config.showMatchRate ? h("li", {}, "The match rate (overlap / advertiser's audience) is shown.") : null,
      config.hideAbsoluteValuesFromInsights ? h("li", {}, "Insights show shares only, not sizes.") : null,
      h("li", {}, activation.length
        ? `Exported audiences are lists of ${activation.join(", ")}.`
        : "The base audience has no activation id: audiences cannot be exported."),
    ),
    h("table", { "data-groups": "" },
      h("caption", { class: "muted" }, "Participant groups: the people of a group share its permissions."),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Group"), h("th", { scope: "col" }, "People"),
        h("th", { scope: "col" }, "May"))),
      h("tbody", {}, ...config.participantGroups.map((group) => h("tr", { "data-group": group.role },
        h("th", { scope: "row" }, group.role, group === mine ? h("span", { class: "pill" }, "your group") : null),
        h("td", {}, group.emails.join(", ")),
        h("td", {}, group.permissions.length ? group.permissions.map(permissionWords).join("; ") : "nothing"))))),
  );
}

// -- provisioning ------------------------------------------------------------------------------
function provisioned(page: MediaPage): HTMLElement {
  const tables = [...BASE_TABLES, SEED_TABLE, CUSTOM_TABLE].filter((name) => page.nodes.has(name));
  const byNode = new Map(page.published.map((p) => [p.node, p]));
  const seedNode = page.room.definition.nodes.find((node) => node.name === SEED_TABLE);
  const mayProvideBase = can(page.group, "PROVIDE_BASE_AUDIENCE");
  return h("div", {},
    h("table", { "data-provisioned": "" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dataset"), h("th", { scope: "col" }, "Status"))),
      h("tbody", {}, ...tables.map((name) => {
        const current = byNode.get(name);
        return h("tr", { "data-table": name, "data-published": current ? "yes" : "no" },
          h("th", { scope: "row" }, TABLE_WORDS[name] ?? name),
          h("td", {}, current
            ? `Provisioned by ${current.publisher} on ${new Date(current.published_at_ms).toISOString().slice(0, 16).replace("T", " ")} UTC` +
              (current.validation ? ` — validation ${current.validation}` : "")
            : "Not provisioned yet"));
      }))),
    mayProvideBase && !byNode.has("matching")
      ? h("p", { class: "hint" }, "Your group provides the base audience: provision it from a validated DataLab with the SDK ",
          h("code", {}, "MediaDcr.provision_base_audience(data_lab_id, key)"),
          ", with the key the DataLab's files were encrypted with (it never leaves your machine).")
      : null,
    can(page.group, "PROVIDE_SEED_AUDIENCE") && seedNode
      ? h("div", { "data-seed-upload": "" },
          h("h3", {}, "Your seed audiences"),
          h("p", { class: "hint" },
            `A CSV file with two columns: the matching id (${page.config.matchingIdType}) and the audience type, one row per person and type. `,
            "The core checks every matching id; the file is encrypted in this browser."),
          datasetCard(page.session, page.roomId, seedNode, page.published))
      : null,
  );
}

function yourGroup(page: MediaPage): HTMLElement {
  if (!page.group) {
    return notice("info", "You are in none of this room's participant groups, so you may only read its configuration.");
  }
  return h("p", { "data-your-group": page.group.role }, `You are in the group “${page.group.role}”: you may `,
    page.group.permissions.map(permissionWords).join("; ") || "do nothing but read the configuration", ".");
}

// -- running -----------------------------------------------------------------------------------
type Status = (text: string) => void;

/** Run a SQL computation of the room; its result table, verified and opened here. */
async function runTable(page: MediaPage, node: string, status: Status): Promise<Table> {
  const job = await page.session.run(page.roomId, node);
  status(`Running ${node}…`);
  const result = await page.session.result(job, (s) => status(`Running ${node}: ${s}`));
  return result.table;
}

/** Run an audience engine computation on `audience`; the file `name` of its result, verified
 * and opened here, or AudienceRefusedError with the engine's reason (never a data value). */
async function runEngine(page: MediaPage, node: string, audience: AudienceRef, name: string, status: Status): Promise<Uint8Array> {
  const job = await page.session.run(page.roomId, node, { audience: audienceParameter(audience) });
  status(`Running ${node}…`);
  const archive = await page.session.resultBytes(job, "zip", (s) => status(`Running ${node}: ${s}`));
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
function runner(label: string, work: (status: Status) => Promise<void>, attrs: Record<string, string> = {}): { button: HTMLButtonElement; line: HTMLElement } {
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

// -- overlap -----------------------------------------------------------------------------------
function overlapSection(page: MediaPage): HTMLElement | null {
  if (!can(page.group, "VIEW_OVERLAP")) return null;
  if (!page.nodes.has(OVERLAP)) {
    return h("section", {}, h("h2", {}, "Overlap"),
      h("p", { class: "muted" }, "This room does not compute the overlap (differential-privacy mode)."));
  }
  const out = h("div", { "data-result": OVERLAP });
  const activation = activationColumns(page.config);
  const showRate = page.config.showMatchRate;
  const minimum = page.config.privacy.minimumAudienceSize;
  const { button, line } = runner("Show overlap", async (status) => {
    replace(out);
    const rows = assembleOverlap((await runTable(page, OVERLAP, status)).rows, showRate);
    status(`The overlap, verified and decrypted in this browser (${rows.length} audience type${rows.length === 1 ? "" : "s"}).`);
    replace(out, h("table", { "data-overlap": "" },
      h("caption", { class: "muted" }, `Sizes rounded to 100; “too small” is under ${formatCount(minimum)} people.`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Audience type"),
        h("th", { scope: "col", class: "num" }, "Advertiser size"),
        h("th", { scope: "col", class: "num" }, "Overlap"),
        showRate ? h("th", { scope: "col", class: "num" }, "Match rate") : null,
        ...activation.map((name) => h("th", { scope: "col", class: "num" }, `${name} in the overlap`)))),
      h("tbody", {}, ...rows.map((row) => h("tr", { "data-audience-type": row.audienceType },
        h("th", { scope: "row" }, row.audienceType),
        h("td", { class: "num", "data-field": "advertiser_size" }, formatCount(row.advertiserSize)),
        h("td", { class: "num", "data-field": "overlap_size" }, formatCount(row.overlapSize)),
        showRate ? h("td", { class: "num", "data-field": "match_rate", "data-value": row.matchRate ?? "" }, formatShare(row.matchRate)) : null,
        ...activation.map((name) => h("td", { class: "num" }, formatCount(row.activationIds[name] ?? null))))))));
  });
  return h("section", { "data-section": "overlap" },
    h("h2", {}, "Overlap"),
    h("p", { class: "hint" }, "How many people of each of the advertiser's seed audiences are in the publisher's base audience."),
    button, line, out);
}

// -- insights ----------------------------------------------------------------------------------
function insightsSection(page: MediaPage): HTMLElement | null {
  if (!can(page.group, "VIEW_INSIGHTS") || !page.config.collaborationTypes.includes("INSIGHTS")) return null;
  if (!page.nodes.has(INSIGHTS)) {
    return h("section", {}, h("h2", {}, "Insights"),
      h("p", { class: "muted" }, "This room does not compute insights (differential-privacy mode)."));
  }
  const out = h("div", { "data-result": INSIGHTS });
  const hide = page.config.hideAbsoluteValuesFromInsights;
  const { button, line } = runner("Show insights", async (status) => {
    replace(out);
    const insights = assembleInsights((await runTable(page, INSIGHTS, status)).rows, hide);
    status(insights.length
      ? "Insights, verified and decrypted in this browser."
      : "No insights: every overlap is below the minimum audience size.");
    if (insights.length === 0) return;
    const choice = h("select", { id: "insights-audience-type" }) as HTMLSelectElement;
    for (const entry of insights) choice.append(h("option", { value: entry.audienceType }, entry.audienceType));
    const tables = h("div", {});
    const show = (): void => {
      const entry = insights.find((i) => i.audienceType === choice.value) ?? insights[0]!;
      replace(tables, ...insightTables(entry, hide));
    };
    choice.addEventListener("change", show);
    replace(out, h("label", { for: "insights-audience-type" }, "Audience type"), choice, tables);
    show();
  });
  return h("section", { "data-section": "insights" },
    h("h2", {}, "Insights"),
    h("p", { class: "hint" },
      "What the overlap looks like next to the whole base audience: for each segment, age and gender, its share of the overlap and of the base. ",
      "Affinity is the overlap share over the base share: above 1, the audience is more likely to have it than the base."),
    button, line, out);
}

function insightTables(entry: Insights, hide: boolean): HTMLElement[] {
  return entry.aggregations.map(({ aggregation, rows }) => {
    const word = AGGREGATION_WORDS[aggregation] ?? aggregation;
    return h("table", { "data-insights": aggregation, "data-audience-type": entry.audienceType },
      h("caption", { class: "muted" }, `${entry.audienceType}: by ${word.toLowerCase()}`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, word),
        hide ? null : h("th", { scope: "col", class: "num" }, "Overlap"),
        hide ? null : h("th", { scope: "col", class: "num" }, "Base"),
        h("th", { scope: "col", class: "num" }, "Share of overlap"),
        h("th", { scope: "col", class: "num" }, "Share of base"),
        h("th", { scope: "col", class: "num" }, "Affinity"))),
      h("tbody", {}, ...rows.map((row) => h("tr", { "data-key": row.key },
        h("th", { scope: "row" }, aggregation === "age_gender" ? row.key.replace("|", ", ") : row.key),
        hide ? null : h("td", { class: "num", "data-field": "overlap_size" }, formatCount(row.overlapSize)),
        hide ? null : h("td", { class: "num", "data-field": "base_size" }, formatCount(row.baseSize)),
        h("td", { class: "num" }, formatShare(row.overlapShare)),
        h("td", { class: "num" }, formatShare(row.baseShare)),
        h("td", { class: "num", "data-field": "affinity", "data-value": row.affinity ?? "" },
          row.affinity === null ? "–" : row.affinity.toFixed(2))))));
  });
}

// -- audiences ---------------------------------------------------------------------------------
interface Book {
  seed: SeedAudience[];
  /** Every custom audience of the room (every participant may read every definition). */
  all: CustomAudience[];
  /** Sizes released so far, by the audience's parameter text (kept when the list is redrawn). */
  sizes: Map<string, number | null>;
}

async function loadSeed(page: MediaPage, status: Status): Promise<SeedAudience[]> {
  if (!page.published.some((p) => p.node === SEED_TABLE)) return [];
  return (await runTable(page, SEED_LIST, status)).rows.map(([type = "", size]) => ({ audienceType: type, size: countOf(size) }));
}

async function loadCustom(page: MediaPage, status: Status): Promise<CustomAudience[]> {
  if (!page.published.some((p) => p.node === CUSTOM_TABLE)) return [];
  return (await runTable(page, CUSTOM_LIST, status)).rows.map(customAudienceOf);
}

function audiencesSection(page: MediaPage): HTMLElement {
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
  const details = h("div", { "data-audience-details": "" });
  const rows: { name: string; ref: AudienceRef; what: string; lookalike: boolean }[] = [
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
    })),
  ];
  const table = h("table", { "data-audience-table": "" },
    h("caption", { class: "muted" }, "Sizes are counted in the core when you ask, and rounded as the room's privacy says."),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Audience"), h("th", { scope: "col" }, "What it is"),
      h("th", { scope: "col", class: "num" }, "Size"), maySize || mayExport || mayJudge ? h("th", { scope: "col" }, "Actions") : null)),
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
      return h("tr", { "data-audience": row.name },
        h("th", { scope: "row" }, row.name), h("td", {}, row.what), size,
        buttons.length ? h("td", { class: "nowrap" }, ...buttons.flatMap((b) => [b, " "])) : (maySize || mayExport || mayJudge ? h("td", {}) : null));
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
  const others = page.config.participantGroups.filter((g) => g !== page.group);
  const shares = others.map((g) => ({ group: g, box: h("input", { id: `share-${g.id}`, type: "checkbox" }) as HTMLInputElement }));
  const seedField = field("audience-seed", "Seed audience", seed);
  const lookalikeFields = h("div", {},
    field("audience-source", "Source audience", source),
    field("audience-reach", "Reach (percent of the base audience, 1 to 30)", reach, "The audience is this share of the base users most like the source."),
    h("div", { class: "check" }, exclude, h("label", { for: "audience-exclude" }, "Leave out the source audience's own users")));
  const sync = (): void => {
    const lookalike = kind.value === "LOOKALIKE";
    seedField.classList.toggle("hidden", lookalike);
    lookalikeFields.classList.toggle("hidden", !lookalike);
  };
  kind.addEventListener("change", sync);
  sync();
  const { button, line } = runner("Create audience", async (say) => {
    const draft = draftOf();
    say("Reading the current audience definitions…");
    // The definitions as they are now (someone may have added one since the list was shown):
    // the new table is all of them plus this one, as the SDK writes it.
    const current = await loadCustom(page, say);
    if (current.some((a) => a.name === draft.name)) throw new Error(`an audience named “${draft.name}” exists: choose another name`);
    const known = new Set(current.map((a) => a.id));
    for (const id of dependsOn(draft.definition)) {
      if (!known.has(id)) throw new Error("the source audience no longer exists: reload the audiences");
    }
    const audience: CustomAudience = {
      id: newAudienceId(),
      name: draft.name,
      createdBy: page.session.email,
      createdAt: createdAtNow(),
      sharedWith: draft.shareWith,
      definition: draft.definition,
      createdByGroup: page.group!.id,
    };
    await writeCustomAudiences(page, [...current, audience], say);
    say(`Created the audience “${audience.name}”. Reading the audiences again…`);
    // The section is drawn again (this form with it): its status line says what happened.
    await after();
    status(`Created the audience “${audience.name}”.`);
  });
  const draftOf = (): { name: string; definition: Record<string, unknown>; shareWith: string[] } => {
    const text = name.value.trim();
    if (!text) throw new Error("give the audience a name");
    const shareWith = shares.filter((s) => s.box.checked).map((s) => s.group.id);
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
    seedField, lookalikeFields,
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
async function writeCustomAudiences(page: MediaPage, audiences: CustomAudience[], say: Status): Promise<void> {
  const text = audiences.map((a) => customAudienceRow(a).map(csvField).join(",") + "\n").join("");
  say("Encrypting the audience definitions in this browser and uploading them…");
  const uploaded = await encryptAndUpload(new Blob([text], { type: "text/csv" }), { headers: authHeaders(), name: "custom audiences" });
  say("Sealing the key to the attested core and publishing…");
  const published = await page.session.publishDataset(page.roomId, CUSTOM_TABLE, uploaded.datasetId, uploaded.key, false);
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

/** A CSV field as Python's csv module writes it (quoted only when it holds , " CR or LF). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
