// The "DataLab" tab of a DataLab (sealroom.data_lab): a publisher's audience data, validated by
// the core, with statistics that only the publisher reads. The page shows the configuration the
// room's definition holds (verified here), a provisioning wizard per dataset (the Actions tab's:
// encrypted in this browser), the validation status and the statistics report — each computed
// in the core and opened here, never seen by the server.

import { getJson } from "../api";
import { errorText, h, notice, replace } from "../dom";
import { assembleStatistics, dataLabTables, statisticsRows, validationStatus, type LabStatistics, type ValidationStatus } from "../data-lab";
import { COLLABORATION_WORDS, dataLabConfigOf, formatCount, formatShare, type DataLabConfig } from "../media";
import { WebSession, type VerifiedRoom } from "../session";
import { datasetCard, type Published } from "./actions";

const STATISTICS = "statistics";
const STATUS = "validation_status";

const DATASET_WORDS: Record<string, string> = {
  matching: "Identifiers",
  segments: "Segments",
  demographics: "Demographics",
  embeddings: "Embeddings",
};

interface LabPage {
  session: WebSession;
  roomId: string;
  room: VerifiedRoom;
  config: DataLabConfig;
  published: Published[];
  ownerOf: Set<string>;
  analystOf: Set<string>;
}

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    const config = dataLabConfigOf(room.definition);
    const me = room.definition.participants.find((p) => p.email.trim().toLowerCase() === session.email.trim().toLowerCase());
    const page: LabPage = {
      session, roomId, room, config,
      published: await getJson<Published[]>(`/v1/rooms/${roomId}/datasets`),
      ownerOf: new Set(me?.data_owner_of ?? []),
      analystOf: new Set(me?.analyst_of ?? []),
    };
    replace(section,
      h("div", { class: "card", "data-verified": "data-lab" },
        h("p", {}, h("span", { class: "verified" }, "✓ Verified in this browser: "),
          "this configuration is part of the DataLab's definition, which hashes to its id and was signed by the attested core."),
        h("p", {}, "DataLab id ", h("code", {}, roomId)),
        h("p", { class: "hint" }, "Its statistics are released to the publisher alone; a media room uses the DataLab as its base audience once it is validated.")),
      h("h2", {}, "Configuration"), configuration(config),
      h("h2", {}, "Datasets"), datasets(page),
      validationSection(page),
      statisticsSection(page),
    );
  } catch (error) {
    replace(section, notice("error", `This DataLab could not be shown: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

function configuration(config: DataLabConfig): HTMLElement {
  const tables = dataLabTables(config).map((node) => DATASET_WORDS[node] ?? node);
  return h("div", { "data-lab-config": "" },
    h("ul", {},
      h("li", {}, `Datasets: ${tables.join(", ")}`, config.requireEmbeddings ? ` (${config.numEmbeddings} embedding values per user and scope)` : "", "."),
      h("li", {}, "Media rooms may use it for: ", config.collaborationTypes.map((c) => COLLABORATION_WORDS[c] ?? c).join(", "), "."),
      h("li", {}, `Statistics leave out groups of fewer than ${formatCount(config.minimumGroupSize)} users and round the others to 50.`),
      h("li", {}, config.dropInvalidRows
        ? "Invalid and duplicate rows are dropped and counted in the validation report (never shown)."
        : "A file with an invalid row fails validation.")),
    h("table", { "data-identifiers": "" },
      h("caption", { class: "muted" }, "The identifiers file's columns, in order; the first is the user id."),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Identifier"), h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Used as"))),
      h("tbody", {}, ...config.identifiersConfig.map((c, index) => h("tr", {},
        h("th", { scope: "row" }, h("code", {}, c.idName)),
        h("td", {}, c.idType),
        h("td", {}, [index === 0 ? "the user id" : "", c.isMatchingId ? "matched in media rooms" : "",
          c.isActivationId ? "delivered in exported audiences" : ""].filter(Boolean).join("; ") || "–"))))));
}

function datasets(page: LabPage): HTMLElement {
  const byNode = new Map(page.published.map((p) => [p.node, p]));
  return h("div", {}, ...dataLabTables(page.config).map((name) => {
    const node = page.room.definition.nodes.find((n) => n.name === name);
    if (node && page.ownerOf.has(name)) return datasetCard(page.session, page.roomId, node, page.published);
    const current = byNode.get(name);
    return h("p", { "data-dataset-node": name }, `${DATASET_WORDS[name] ?? name}: `,
      current ? `provisioned by ${current.publisher}${current.validation ? ` — validation ${current.validation}` : ""}` : "not provisioned yet");
  }));
}

// -- validation --------------------------------------------------------------------------------
function missingDatasets(page: LabPage): string[] {
  const published = new Set(page.published.map((p) => p.node));
  return dataLabTables(page.config).filter((node) => !published.has(node));
}

async function reportsOf(page: LabPage): Promise<Record<string, Record<string, any>>> {
  const published = new Set(page.published.map((p) => p.node));
  const reports: Record<string, Record<string, any>> = {};
  for (const node of dataLabTables(page.config)) {
    if (published.has(node)) reports[node] = await page.session.validationReport(page.roomId, node);
  }
  return reports;
}

function validationSection(page: LabPage): HTMLElement | null {
  if (!page.analystOf.has(STATUS)) return null;
  const out = h("div", {});
  const line = h("p", { "aria-live": "polite", class: "muted" });
  const button = h("button", { type: "button" }, "Check validation") as HTMLButtonElement;
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(out);
    try {
      // The datasets' list may have changed since the page loaded (a wizard above).
      page.published = await getJson<Published[]>(`/v1/rooms/${page.roomId}/datasets`);
      const reports = await reportsOf(page);
      const validRows = new Map<string, number>();
      if (missingDatasets(page).length === 0) {
        line.textContent = "Counting the valid rows in the core…";
        const job = await page.session.run(page.roomId, STATUS);
        const result = await page.session.result(job, (s) => { line.textContent = `Counting the valid rows in the core: ${s}`; });
        for (const [node = "", rows = "0"] of result.table.rows) validRows.set(node, Number(rows));
      }
      const outcomes = new Map(Object.entries(reports).map(([node, body]) => [node, (body["report"]?.["outcome"] ?? null) as string | null]));
      line.textContent = "";
      replace(out, renderValidation(validationStatus(page.config, validRows, outcomes), reports));
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", `The validation status could not be read: ${errorText(error)}`));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { "data-section": "validation" },
    h("h2", {}, "Validation"),
    h("p", { class: "hint" }, "The core validates every dataset when it is published. The DataLab is validated when every dataset passed and the identifiers and segments kept rows."),
    button, line, out);
}

function renderValidation(status: ValidationStatus, reports: Record<string, Record<string, any>>): HTMLElement {
  const ok = status.status === "SUCCESS";
  return h("div", { "data-validation-status": status.status },
    h("p", {}, h("span", { class: ok ? "verified" : "failed" }, ok ? "Validated" : "Not validated"),
      ok ? ": a media room can use this DataLab as its base audience." : ": provision the missing datasets, or fix the files that failed."),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dataset"), h("th", { scope: "col" }, "Validation"),
        h("th", { scope: "col", class: "num" }, "Valid rows"), h("th", { scope: "col" }, "Invalid rows by reason"))),
      h("tbody", {}, ...status.datasets.map((d) => {
        const byReason = (reports[d.node]?.["report"]?.["numInvalidRowsByErrorCode"] ?? {}) as Record<string, number>;
        return h("tr", { "data-dataset": d.node },
          h("th", { scope: "row" }, DATASET_WORDS[d.node] ?? d.node),
          h("td", {}, d.validation ?? "not provisioned"),
          h("td", { class: "num" }, d.validRows === null ? "–" : formatCount(d.validRows)),
          h("td", {}, Object.entries(byReason).map(([code, n]) => `${code}: ${formatCount(n)}`).join("; ") || "none"));
      }))));
}

// -- statistics --------------------------------------------------------------------------------
function statisticsSection(page: LabPage): HTMLElement | null {
  if (!page.analystOf.has(STATISTICS)) return null;
  const out = h("div", { "data-result": STATISTICS });
  const line = h("p", { "aria-live": "polite", class: "muted" });
  const button = h("button", { type: "button" }, "Compute statistics") as HTMLButtonElement;
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(out);
    try {
      page.published = await getJson<Published[]>(`/v1/rooms/${page.roomId}/datasets`);
      const missing = missingDatasets(page);
      if (missing.length) throw new Error(`provision every dataset first (${missing.map((n) => DATASET_WORDS[n] ?? n).join(", ")} not yet)`);
      line.textContent = "Computing the statistics in the core…";
      const job = await page.session.run(page.roomId, STATISTICS);
      const result = await page.session.result(job, (s) => { line.textContent = `Computing the statistics in the core: ${s}`; });
      const stats = assembleStatistics(page.config, statisticsRows(result.table.rows), await reportsOf(page));
      line.textContent = "The statistics, verified and decrypted in this browser.";
      replace(out, ...renderStatistics(page.config, stats));
    } catch (error) {
      line.textContent = "";
      replace(out, notice("error", `The statistics could not be computed: ${errorText(error)}`));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { "data-section": "statistics" },
    h("h2", {}, "Statistics"),
    h("p", { class: "hint" }, "Totals are exact; counts of users per group leave out groups under the minimum group size and are rounded to 50."),
    button, line, out);
}

function renderStatistics(config: DataLabConfig, stats: LabStatistics): HTMLElement[] {
  const matching = config.identifiersConfig.slice(1).filter((c) => c.isMatchingId).map((c) => c.idName);
  const parts: HTMLElement[] = [
    h("p", { "data-distinct-users": stats.distinctUsers }, `${formatCount(stats.distinctUsers)} distinct users.`),
    h("table", { "data-totals": "" },
      h("caption", { class: "muted" }, "Rows of each dataset"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dataset"), h("th", { scope: "col", class: "num" }, "Rows"),
        h("th", { scope: "col", class: "num" }, "Valid"), h("th", { scope: "col", class: "num" }, "Invalid"))),
      h("tbody", {}, ...stats.datasets.map((d) => h("tr", { "data-dataset": d.node },
        h("th", { scope: "row" }, DATASET_WORDS[d.node] ?? d.node),
        h("td", { class: "num", "data-field": "total_rows" }, formatCount(d.totalRows)),
        h("td", { class: "num", "data-field": "valid_rows" }, formatCount(d.validRows)),
        h("td", { class: "num", "data-field": "invalid_rows" }, formatCount(d.invalidRows)))))),
    h("table", { "data-identifier-statistics": "" },
      h("caption", { class: "muted" }, "Identifiers"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Identifier"), h("th", { scope: "col", class: "num" }, "Distinct ids"),
        h("th", { scope: "col", class: "num" }, "Ids per user"), h("th", { scope: "col", class: "num" }, "Users per id (average, most)"))),
      h("tbody", {}, ...stats.identifiers.map((i) => h("tr", { "data-identifier": i.name },
        h("th", { scope: "row" }, h("code", {}, i.name), ` (${i.idType})`),
        h("td", { class: "num", "data-field": "distinct_ids" }, formatCount(i.distinctIds)),
        h("td", { class: "num" }, String(i.avgIdsPerUser)),
        h("td", { class: "num" }, `${i.avgUsersPerId}, ${formatCount(i.maxUsersPerId)}`))))),
    ...stats.reachable.map((r) => h("p", { "data-reachable": `${r.matchingId}:${r.activationId}` },
      `Through ${r.matchingId}, ${formatCount(r.count)} ${r.activationId} can be reached.`)),
  ];
  if (stats.segments) {
    const segments = stats.segments;
    parts.push(h("table", { "data-segment-statistics": "" },
      h("caption", { class: "muted" },
        `Users per segment: ${formatCount(segments.usersWithSegments)} users have segments, ${formatCount(segments.distinctSegments)} distinct segments`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Segment"), h("th", { scope: "col", class: "num" }, "Users"),
        h("th", { scope: "col", class: "num" }, "Share"),
        ...matching.map((m) => h("th", { scope: "col", class: "num" }, `Users with ${m}`)))),
      h("tbody", {}, ...segments.rows.map((row) => h("tr", { "data-segment": row.segment },
        h("th", { scope: "row" }, row.segment),
        h("td", { class: "num", "data-field": "users" }, formatCount(row.all.absolute)),
        h("td", { class: "num" }, formatShare(row.all.relative)),
        ...matching.map((m) => h("td", { class: "num" }, formatCount(row.byMatchingId[m]?.absolute ?? 0))))))));
  }
  if (stats.demographics) {
    const demographics = stats.demographics;
    parts.push(h("table", { "data-demographic-statistics": "" },
      h("caption", { class: "muted" }, `Users per age and gender: ${formatCount(demographics.usersWithDemographics)} users have demographics`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Age"), h("th", { scope: "col" }, "Gender"),
        h("th", { scope: "col", class: "num" }, "Users"), h("th", { scope: "col", class: "num" }, "Share"))),
      h("tbody", {}, ...demographics.rows.map((row) => h("tr", { "data-demographic": `${row.age}|${row.gender}` },
        h("td", {}, row.age || "unknown"), h("td", {}, row.gender || "unknown"),
        h("td", { class: "num", "data-field": "users" }, formatCount(row.users.absolute)),
        h("td", { class: "num" }, formatShare(row.users.relative)))))));
  }
  if (stats.usersWithEmbeddings !== null) parts.push(h("p", {}, `${formatCount(stats.usersWithEmbeddings)} users have embeddings.`));
  return parts;
}
