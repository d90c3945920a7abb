// The Media tab's people (MANAGE_USERS): ask that someone join your group with some of its
// permissions, or leave it; and, for everyone, the pending membership requests — who joins or
// leaves which group with what, whether the request is sound, its data owners' approvals —
// with Approve (a data owner it waits for, sound requests only) and Integrate.
//
// As the SDK's MediaDcr.add_user_as_participant / remove_user_from_participant build them: a
// request of the room whose commit grants the roles the permissions map to (analyst, data
// owner; someone new recognised by the platform's CA the room trusts) or withdraws every role
// the person holds, with the membership note (media-members.ts: noteOf). The commit is drafted
// by the host and checked here to be exactly that (requests.ts: checkDraft) before
// `submit_request` is signed over its hash.
//
// Invariants: "sound" is decided here, from the verified definition and history, by the SDK's
// rules (members.may_manage and fits, mirrored in media-members.ts); Approve is offered only for
// a sound request. Status and approvals are the host's word (the core enforces them; the audit
// log has each approval's signature).

import { h, notice, replace } from "../dom";
import { permissionWords, type Group } from "../media";
import { changeOf, fits, mayManage, memberRoles, newMemberProblem, noteOf, type Change } from "../media-members";
import type { Definition } from "../render";
import { actOnRequest, draftRequest, listRequests, sameEmail, submitDraft, type RequestInput, type RequestView } from "../requests";
import { runner, type MediaPage, type Status } from "./media-run";

const STATUS_WORDS: Record<string, string> = {
  pending: "waiting for approval",
  ready_to_integrate: "approved: ready to integrate",
};

/** The People section; `reopen` draws the tab again from the room's current history (after an
 * integration changed the groups), saying `message` there. */
export function peopleSection(page: MediaPage, reopen: (message: string) => Promise<void>): HTMLElement | null {
  if (!page.group || !page.room.definition.interactive) return null;
  const manages = page.group.permissions.includes("MANAGE_USERS");
  const mine = page.config.participantGroups.find((g) => g.id === page.group!.id)!;
  const list = h("div", { "data-membership-requests": "" });
  const { button, line } = runner("Show membership requests", async (status) => {
    await showRequests(page, list, status, reopen);
  });
  return h("section", { "data-section": "people" },
    h("h2", {}, "People"),
    h("p", { class: "hint" },
      "People join and leave a group through requests of the room: an owner of each table approves them (the publisher and the advertisers), ",
      "then anyone integrates them. A request counts only when someone of that group who manages its people asks exactly for it."),
    manages ? manageForms(page, mine) : null,
    h("h3", {}, "Membership requests"),
    button, line, list);
}

// -- asking --------------------------------------------------------------------------------------
function manageForms(page: MediaPage, group: Group): HTMLElement {
  const email = h("input", { id: "member-email", type: "email", autocomplete: "off", "aria-describedby": "member-email-hint" }) as HTMLInputElement;
  const boxes = group.permissions.map((p) => ({
    permission: p,
    box: h("input", { type: "checkbox", id: `member-permission-${p}`, value: p }) as HTMLInputElement,
  }));
  const asked = h("div", { "data-asked": "" });
  const add = runner("Ask to add", async (say) => {
    const address = email.value.trim();
    if (!address) throw new Error("give their e-mail address");
    const permissions = boxes.filter((b) => b.box.checked).map((b) => b.permission);
    const problem = newMemberProblem(page.config.participantGroups, group, address, permissions);
    if (problem) throw new Error(problem);
    // The roles those permissions map to in this room (members.member_roles).
    const { owns, runs } = memberRoles(page.room.published as unknown as Definition, permissions);
    const change: Change = { group: group.id, email: address, permissions };
    const input: RequestInput = { note: noteOf(change), computations: [], analysts: { [address]: runs }, owners: { [address]: owns } };
    const view = await ask(page, input, say);
    replace(asked, askedNotice(view, `${address} to join ${group.role}`));
    email.value = "";
    boxes.forEach((b) => { b.box.checked = false; });
  });
  const people = group.emails.map((person) => {
    const leave = runner(`Ask to remove ${person}`, async (say) => {
      const held = page.room.definition.participants.find((p) => sameEmail(p.email, person));
      if (!held) throw new Error(`${person} holds no role in this room`);
      const change: Change = { group: group.id, email: person, permissions: [] };
      const input: RequestInput = {
        note: noteOf(change), computations: [], analysts: {},
        withdrawals: { [person]: { analyst_of: [...held.analyst_of], data_owner_of: [...held.data_owner_of] } },
      };
      const view = await ask(page, input, say);
      replace(asked, askedNotice(view, `${person} to leave ${group.role}`));
    }, { class: "secondary" });
    return h("li", { "data-member": person }, person, sameEmail(person, page.session.email) ? " (you)" : "", " ", leave.button, leave.line);
  });
  const form = h("form", { class: "card", "data-add-member": "", novalidate: true },
      h("h3", {}, `Ask for someone to join ${group.role}`),
      h("div", {}, h("label", { for: email.id }, "E-mail address"), email,
        h("p", { class: "hint", id: "member-email-hint" }, "They sign in with this address; the room recognises them by the platform's certificate authority.")),
      h("fieldset", {}, h("legend", {}, "With the permissions"),
        ...boxes.map((b) => h("div", { class: "check" }, b.box, h("label", { for: b.box.id }, permissionWords(b.permission))))),
      add.button, add.line);
  // Enter in the address submits the form, which clicks its submit button; the submission
  // itself never loads a page.
  add.button.type = "submit";
  form.addEventListener("submit", (event) => event.preventDefault());
  return h("div", {},
    form,
    h("div", { class: "card" },
      h("h3", {}, `${group.role}'s people`),
      h("ul", { "data-members": "" }, ...people)),
    asked);
}

/** Draft the request on the room's verified history, check it is exactly `input`, submit it. */
async function ask(page: MediaPage, input: RequestInput, say: Status): Promise<RequestView> {
  say("Drafting the request and checking it in this browser…");
  const draft = await draftRequest(page.session, page.room, input);
  say("Signing and submitting it…");
  const view = await submitDraft(page.session, page.room, draft);
  say("Submitted.");
  return view;
}

function askedNotice(view: RequestView, what: string): HTMLElement {
  const groups = view.groups ?? [];
  return notice("ok", h("span", { "data-request": view.data.id }, `Asked for ${what}: request ${view.data.id.slice(0, 12)}. `),
    groups.length
      ? `An owner of each of these tables approves it: ${groups.map((g) => `${g.node} (${g.approvers.join(", ")})`).join("; ")}. Then anyone integrates it.`
      : "It affects no table: anyone may integrate it.");
}

// -- the pending requests ------------------------------------------------------------------------
interface Membership {
  view: RequestView;
  change: Change;
  group: Group | null;
  /** null: sound; else why not. */
  unsound: string | null;
}

function memberships(page: MediaPage, views: RequestView[]): Membership[] {
  const groups = page.config.participantGroups;
  const out: Membership[] = [];
  for (const view of views) {
    if (view.data.status !== "pending" && view.data.status !== "ready_to_integrate") continue;
    const change = changeOf(view.commit.note);
    if (!change) continue;
    const group = groups.find((g) => g.id === change.group) ?? null;
    // MediaDcr.get_membership_requests' `sound`, in the same order.
    const unsound = group === null ? "it names a group this room does not have"
      : !mayManage(groups, view.commit.requester, change.group) ? `${view.commit.requester} does not manage ${group.role}'s people`
        : view.commit.history_pin !== page.room.historyPin ? "it is built on an older history of the room"
          : !fits(change, page.room.definition, view.commit) ? "its commit does not do exactly what its note says"
            : null;
    out.push({ view, change, group, unsound });
  }
  return out;
}

async function showRequests(page: MediaPage, list: HTMLElement, status: Status, reopen: (message: string) => Promise<void>): Promise<void> {
  status("Reading the room's requests and checking each in this browser…");
  const found = memberships(page, await listRequests(page.room));
  status(found.length ? `${found.length} pending membership request${found.length === 1 ? "" : "s"}, verified in this browser.` : "No pending membership request.");
  replace(list, ...found.map((m) => card(page, m, async (say) => showRequests(page, list, say, reopen), reopen, status)));
}

function card(page: MediaPage, m: Membership, refresh: (say: Status) => Promise<void>, reopen: (message: string) => Promise<void>, status: Status): HTMLElement {
  const { view, change } = m;
  const me = page.session.email.toLowerCase();
  const role = m.group?.role ?? change.group;
  const leaving = change.permissions.length === 0;
  const groups = view.groups ?? [];
  const approved = new Set(Object.keys(view.data.approvals).map((e) => e.toLowerCase()));
  const approver = groups.some((g) => g.approvers.some((e) => e.toLowerCase() === me));
  const buttons: HTMLElement[] = [];
  const lines: HTMLElement[] = [];
  const act = (label: string, action: "approve" | "integrate", done: string): void => {
    const { button, line } = runner(label, async (say) => {
      say(action === "approve" ? "Signing your approval…" : "Integrating…");
      await actOnRequest(page.session, page.room, view.data.id, action);
      if (action === "integrate") {
        await reopen(`Integrated: ${change.email} ${leaving ? "left" : "joined"} ${role}. The groups above are the room's now.`);
        return;
      }
      await refresh(status);
      status(done);
    }, { "aria-label": `${label} the request for ${change.email} to ${leaving ? "leave" : "join"} ${role}` });
    buttons.push(button);
    lines.push(line);
  };
  if (m.unsound === null && view.data.status === "pending" && approver && !approved.has(me)) {
    act("Approve", "approve", `Approved the request for ${change.email}.`);
  }
  if (view.data.status === "ready_to_integrate") act("Integrate", "integrate", "");
  return h("div", { class: "card", "data-membership": view.data.id, "data-sound": m.unsound === null ? "yes" : "no" },
    h("h4", {}, leaving ? `${change.email} leaves ${role}` : `${change.email} joins ${role}`),
    leaving ? h("p", {}, "Every role they hold in the room is withdrawn.")
      : h("p", {}, "With: ", change.permissions.map(permissionWords).join("; "), "."),
    h("p", {}, `Asked by ${view.commit.requester}; ${STATUS_WORDS[view.data.status] ?? view.data.status} (as the server reports).`),
    m.unsound === null
      ? h("p", {}, h("span", { class: "verified" }, "✓ Sound: "),
          `asked by someone of ${role} who manages its people, on the room's current history, and it does exactly what it says.`)
      : h("p", { class: "error" }, `Not sound: ${m.unsound}. Do not approve it: reject it on the Requests tab.`),
    groups.length
      ? h("ul", {}, ...groups.map((g) => h("li", {}, `${g.node}: `, g.approvers.map((e) =>
          `${e}${approved.has(e.toLowerCase()) ? " (approved)" : ""}`).join(", "))))
      : null,
    buttons.length ? h("div", { class: "actions" }, ...buttons.flatMap((b) => [b, " "])) : null,
    ...lines);
}
