// The "Media" tab of a media clean room (sealroom.media): the configuration every participant
// agreed to, what is provisioned, the privacy budget in differential-privacy mode, and — for the
// logged-in person's group only — what it may do: the overlap, insights, the audiences (sizes,
// user lists, lookalike quality; sharing and deleting its own) and new remarketing,
// exclusion-targeting, rule-based and lookalike audiences (media-audiences.ts, media-rules.ts;
// what the parts share is in media-run.ts).
//
// The budget spent is not the host's word (the SDK's retrieve_privacy_budget reads an endpoint
// the host relays unsigned): it is summed here from the room's audit log, verified in this
// browser against the core's signed checkpoint, as the core itself sums it; the budget is the
// verified definition's.
//
// Everything runs as the SDK's MediaDcr does, over the same computations, with this browser's
// keys: results are sealed by the core to a key made here for each job, checked against the
// core's signature and opened here; a new audience definition is written into the
// `custom_audiences` table as a new dataset, encrypted here with a fresh key and published with
// that key sealed to the attested core. Controls are offered only for what the group's
// permissions allow; the core refuses the rest anyway (and says so, which is shown in words).

import { authHeaders, getJson } from "../api";
import { verifyAuditLog } from "../audit";
import { errorText, h, notice, replace } from "../dom";
import {
  activationColumns,
  assembleInsights,
  assembleOverlap,
  AGGREGATION_WORDS,
  can,
  COLLABORATION_WORDS,
  formatCount,
  formatShare,
  groupOf,
  mediaConfigOf,
  permissionWords,
  privacySpent,
  type Group,
  type Insights,
  type MediaConfig,
} from "../media";
import { currentGroups, permissionsOf } from "../media-members";
import type { Definition } from "../render";
import type { CommitJson } from "../requests";
import { WebSession } from "../session";
import { makeFetcher } from "../trust";
import { datasetCard, type Published } from "./actions";
import { audiencesSection } from "./media-audiences";
import { peopleSection } from "./media-people";
import { BASE_TABLES, CUSTOM_TABLE, INSIGHTS, OVERLAP, runner, runRows, SEED_TABLE, type MediaPage } from "./media-run";

const TABLE_WORDS: Record<string, string> = {
  matching: "Base audience: identifiers",
  segments: "Base audience: segments",
  demographics: "Base audience: demographics",
  embeddings: "Base audience: embeddings",
  audiences: "Seed audiences",
  custom_audiences: "Audience definitions",
};

export async function mount(section: HTMLElement): Promise<void> {
  await render(section, false);
}

/** Draw the tab; `fresh`: read the room again first (its history changed). */
async function render(section: HTMLElement, fresh: boolean): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId, fresh);
    const agreed = mediaConfigOf(room.definition);
    // The groups as the verified history leaves them (people join and leave by requests).
    const published = room.published as unknown as Definition;
    const commits = room.commits.map((c) => c.commit as unknown as CommitJson);
    const config = { ...agreed, participantGroups: currentGroups(agreed, published, commits) };
    const mine = groupOf(config, session.email);
    const page: MediaPage = {
      session,
      roomId,
      room,
      config,
      // What this person may do: their own permissions within their group.
      group: mine && { ...mine, permissions: permissionsOf(mine, session.email) },
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
      budgetSection(page),
      h("h2", {}, "What your group can do"), yourGroup(page),
      overlapSection(page),
      insightsSection(page),
      audiencesSection(page),
      peopleSection(page, async (message) => {
        await render(section, true);
        const heading = section.querySelector<HTMLElement>("[data-section='people'] h2");
        heading?.after(notice("ok", message));
        heading?.scrollIntoView();
      }),
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
        ? `Privacy: differential privacy. Every run of the overlap, insights, an audience size or lookalike statistics is a noisy count costing ε = ${privacy.epsilonPerRun} of the room's budget of ε = ${privacy.epsilonBudget}, ` +
          "and the core refuses runs past it."
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
        h("th", { scope: "row" }, group.role, group.id === mine?.id ? h("span", { class: "pill" }, "your group") : null),
        h("td", {}, group.emails.map((email) => group.memberPermissions?.[email]
          ? `${email} (only: ${group.memberPermissions[email]!.map(permissionWords).join("; ")})` : email).join(", ")),
        h("td", {}, group.permissions.length ? group.permissions.map(permissionWords).join("; ") : "nothing"))))),
  );
}

// -- the privacy budget ------------------------------------------------------------------------
/** A number as the page shows it: up to 6 significant digits (Python's "{:g}"-like). */
function formatEpsilon(value: number): string {
  return String(Number(value.toPrecision(6)));
}

function budgetSection(page: MediaPage): HTMLElement | null {
  if (page.config.privacy.mode !== "DIFFERENTIAL_PRIVACY") return null;
  const budget = page.room.definition.privacy?.["dp_epsilon_budget"];
  if (typeof budget !== "number") {
    return h("section", { "data-section": "budget" }, h("h2", {}, "Privacy budget"),
      notice("error", "This room's definition sets no privacy budget, though its configuration says differential privacy."));
  }
  const out = h("div", { "data-budget": "" });
  const perRun = page.config.privacy.epsilonPerRun;
  const { button, line } = runner("Check the budget", async (status) => {
    status("Verifying the room's audit log in this browser…");
    const log = await verifyAuditLog(page.roomId, makeFetcher(authHeaders()), page.session.core);
    const spent = privacySpent(log.events);
    const remaining = Math.max(budget - spent.epsilon, 0);
    status(`Read from the room's audit log (${log.size} entries), verified in this browser.`);
    replace(out, h("p", { "data-epsilon-budget": budget, "data-epsilon-spent": spent.epsilon, "data-epsilon-remaining": remaining, "data-charges": spent.charges },
      h("span", { class: "verified" }, "✓ "),
      `Spent ε = ${formatEpsilon(spent.epsilon)} of the room's budget of ε = ${formatEpsilon(budget)} `,
      `(${spent.charges} run${spent.charges === 1 ? "" : "s"} charged); remaining ε = ${formatEpsilon(remaining)}.`),
    perRun !== null && spent.epsilon + perRun > budget
      ? h("p", { class: "muted", "data-budget-exhausted": "" },
          `It cannot pay for another run of ε = ${formatEpsilon(perRun)}: the core refuses the overlap, insights, sizes and lookalike statistics from now on.`)
      : null);
  });
  // Read now, and again after every run the core may have charged.
  page.charged = () => button.click();
  queueMicrotask(() => button.click());
  return h("section", { "data-section": "budget" },
    h("h2", {}, "Privacy budget"),
    h("p", { class: "hint" },
      "Every run of the overlap, insights, an audience size or lookalike statistics is charged to the room's budget before it runs; the core refuses runs past it. ",
      "The figures are summed in this browser from the room's audit log, verified against the core's signed checkpoint, as the core sums them."),
    button, line, out);
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

// -- overlap -----------------------------------------------------------------------------------
function overlapSection(page: MediaPage): HTMLElement | null {
  if (!can(page.group, "VIEW_OVERLAP")) return null;
  if (!page.nodes.has(OVERLAP)) {
    return h("section", {}, h("h2", {}, "Overlap"),
      h("p", { class: "muted" }, "This room does not compute the overlap (a differential-privacy room made before the overlap was noised)."));
  }
  const out = h("div", { "data-result": OVERLAP });
  const activation = activationColumns(page.config);
  const showRate = page.config.showMatchRate;
  const minimum = page.config.privacy.minimumAudienceSize;
  const dp = page.config.privacy.mode === "DIFFERENTIAL_PRIVACY";
  const { button, line } = runner("Show overlap", async (status) => {
    replace(out);
    const rows = assembleOverlap((await runRows(page, OVERLAP, status)).rows, showRate);
    status(`The overlap, verified and decrypted in this browser (${rows.length} audience type${rows.length === 1 ? "" : "s"}).`);
    replace(out, h("table", { "data-overlap": "" },
      h("caption", { class: "muted" }, `${dp ? "Noisy counts (differential privacy), rounded" : "Sizes rounded"} to 100; “too small” is under ${formatCount(minimum)} people.`),
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
      h("p", { class: "muted" }, "This room does not compute insights (a differential-privacy room made before insights were noised)."));
  }
  const out = h("div", { "data-result": INSIGHTS });
  const hide = page.config.hideAbsoluteValuesFromInsights;
  const { button, line } = runner("Show insights", async (status) => {
    replace(out);
    const insights = assembleInsights((await runRows(page, INSIGHTS, status)).rows, hide);
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
    page.config.privacy.mode === "DIFFERENTIAL_PRIVACY"
      ? h("p", { class: "hint", "data-noisy": "" },
          "In this room the counts are noisy (differential privacy), and each run is charged to the room's privacy budget.")
      : null,
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

