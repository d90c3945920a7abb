// The "Requests" tab (seed steps 11 and 12): request a new computation for the room, "Validate"
// it — the commit is drafted, checked here to say what you wrote, and the data owners it affects
// are derived here from the verified definition —, "Submit for approval"; every request of the
// room with what it adds, its affected data owners and each one's approval; "Approve" or
// "Reject" for an affected data owner, "Preview" when you are its only affected owner,
// "Integrate" once approved; then the new computation runs from the Actions tab.
//
// Every signature is the participant's own (their key in this browser); each approval is in the
// room's audit log with the approver's signature. A request is shown only once its commit is
// verified to be the one its id names (requests.ts): what an approver reads is what runs.

import { dataTable, errorText, h, notice, replace } from "../dom";
import {
  actOnRequest, availableData, draftRequest, listRequests, previewRequest, sameEmail, scriptResult, submitDraft,
  type Available, type CheckedDraft, type ComputationInput, type RequestInput, type RequestView,
} from "../requests";
import { WebSession, type VerifiedRoom } from "../session";
import {
  codeEditor, dataBrowser, dependenciesFor, languageSelect, REQUEST_DRAFT_KEY, showFiles, type CodeDraft, type Language,
} from "./development";

const STATUS_TEXT: Record<string, string> = {
  pending: "Waiting for approval",
  ready_to_integrate: "Approved: ready to integrate",
  integrated: "Integrated",
  rejected: "Rejected",
  superseded: "Superseded (another change was integrated first)",
};

export async function mount(section: HTMLElement): Promise<void> {
  const roomId = section.dataset["roomId"]!;
  try {
    const session = await WebSession.open();
    const room = await session.room(roomId);
    if (!room.definition.interactive) {
      replace(section, notice("info", "This room is not interactive: its definition cannot change after publication, ",
        "so it takes no requests."));
      return;
    }
    const list = h("div", { "data-requests": "" });
    const page = new RequestsPage(session, room, list);
    replace(section, page.form(), h("h2", {}, "Requests of this room"), list);
    await page.refresh();
  } catch (error) {
    replace(section, notice("error", `This room could not be verified: ${errorText(error)}`));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

class RequestsPage {
  constructor(
    private readonly session: WebSession,
    private room: VerifiedRoom,
    private readonly list: HTMLElement,
  ) {}

  // -- a new request ---------------------------------------------------------------------------
  form(): HTMLElement {
    const definition = this.room.definition;
    const me = this.session.email;
    const stored = window.location.hash === "#draft" ? sessionStorage.getItem(REQUEST_DRAFT_KEY) : null;
    const fromDevelopment = stored ? (JSON.parse(stored) as CodeDraft) : null;
    const language = languageSelect("req-language", fromDevelopment?.kind ?? "sql");
    const name = h("input", { id: "req-name", type: "text", autocomplete: "off", spellcheck: "false", value: fromDevelopment?.name ?? "" }) as HTMLInputElement;
    const editor = codeEditor("req-code", 12);
    editor.value = fromDevelopment?.code ?? "";
    const minimum = h("input", { id: "req-minimum", type: "number", min: 2, step: 1, inputmode: "numeric" }) as HTMLInputElement;
    const note = h("textarea", { id: "req-note", rows: 3, class: "prose" }) as HTMLTextAreaElement;
    // Inputs: your own readable data is listed as in the development tab, but a request may read
    // any node of the room (its owners approve it): every table, file and computation.
    const mine = availableData(definition, me);
    const all: Available[] = definition.nodes.filter((n) => n.kind !== "preview").map((node) =>
      mine.find((a) => a.node.name === node.name) ?? { node, role: "other" });
    const browser = dataBrowser("req-data", definition, all);
    if (fromDevelopment) browser.choose(fromDevelopment.dependencies);
    const analystBoxes = definition.participants.map((p, index) => {
      const id = `req-analyst-${index}`;
      const box = h("input", { type: "checkbox", id, value: p.email, checked: sameEmail(p.email, me) }) as HTMLInputElement;
      return { box, row: h("div", { class: "check" }, box, h("label", { for: id }, p.email)) };
    });
    const validate = h("button", { type: "button" }, "Validate");
    const submit = h("button", { type: "button", disabled: true }, "Submit for approval");
    const out = h("div", { "data-validation": "", "aria-live": "polite" });
    let checked: CheckedDraft | null = null;
    const invalidate = (): void => {
      if (checked) replace(out, h("p", { class: "hint" }, "Changed since it was validated: validate it again."));
      checked = null;
      submit.setAttribute("disabled", "");
    };

    const input = (): RequestInput => {
      const kind = language.value as Language;
      const computation: ComputationInput = {
        kind, name: name.value.trim(), code: editor.value,
        // SQL reads the tables its query names (resolved as the SDK does, and checked and
        // shown here on validation); a script, the inputs chosen.
        dependencies: kind === "sql" ? null : dependenciesFor(kind, editor.value, browser.chosen(), all),
        minimumRowsCount: kind === "sql" && minimum.value ? Number(minimum.value) : null,
      };
      const analysts: Record<string, string[]> = {};
      for (const { box } of analystBoxes) if (box.checked) analysts[box.value] = [computation.name];
      return { note: note.value, computations: [computation], analysts };
    };

    validate.addEventListener("click", async () => {
      validate.setAttribute("disabled", "");
      invalidate();
      replace(out, h("p", {}, "Validating…"));
      try {
        checked = await draftRequest(this.session, this.room, input());
        submit.removeAttribute("disabled");
        replace(out, validation(checked));
      } catch (error) {
        replace(out, notice("error", errorText(error)));
      } finally {
        validate.removeAttribute("disabled");
      }
    });
    submit.addEventListener("click", async () => {
      if (!checked) return;
      submit.setAttribute("disabled", "");
      try {
        const view = await submitDraft(this.session, this.room, checked);
        sessionStorage.removeItem(REQUEST_DRAFT_KEY);
        replace(out, notice("ok", `Submitted request ${view.data.id.slice(0, 12)}… for approval by its affected data owners.`));
        checked = null;
        await this.refresh();
      } catch (error) {
        replace(out, notice("error", errorText(error)));
        submit.removeAttribute("disabled");
      }
    });
    const formElement = h("form", { class: "request-form", "aria-labelledby": "req-title" },
      h("div", { class: "workbench" },
        h("div", { class: "editor-pane" },
          h("div", { class: "row" },
            h("div", {}, h("label", { for: "req-language" }, "Language"), language),
            h("div", { class: "grow" }, h("label", { for: "req-name" }, "Computation name"), name)),
          h("label", { for: "req-code" }, "Code"),
          editor,
          h("p", { class: "hint", id: "req-code-hint" }, "Tab indents; press Esc, then Tab, to leave the editor. ",
            "SQL reads the tables it names; a Python or R script reads the inputs chosen under Available data, mounted at /input/<name>/."),
          h("label", { for: "req-minimum" }, "Privacy filter: minimum rows per result row (SQL, optional)"),
          minimum,
          h("fieldset", {}, h("legend", {}, "Analysts of the new computation"), ...analystBoxes.map((a) => a.row)),
          h("label", { for: "req-note" }, "Note for the approvers"),
          note,
          h("div", { class: "row" }, validate, submit),
          out),
        browser.element));
    formElement.addEventListener("submit", (event) => event.preventDefault());
    formElement.addEventListener("input", invalidate);
    formElement.addEventListener("change", invalidate);
    return h("details", { class: "card", open: fromDevelopment !== null || undefined },
      h("summary", { id: "req-title" }, "Create request"),
      formElement);
  }

  // -- the room's requests ---------------------------------------------------------------------
  async refresh(): Promise<void> {
    try {
      this.room = await this.session.room(this.room.roomId, true);
      const views = await listRequests(this.room);
      views.sort((a, b) => b.data.created_at_ms - a.data.created_at_ms);
      replace(this.list, views.length ? h("div", {}, ...views.map((view) => this.card(view)))
        : h("p", { class: "muted" }, "No request yet."));
    } catch (error) {
      replace(this.list, notice("error", `The requests could not be verified: ${errorText(error)}`));
    }
  }

  private card(view: RequestView): HTMLElement {
    const { data, commit } = view;
    const me = this.session.email;
    const groups = view.groups ?? data.approver_groups;
    const approved = new Set(Object.keys(data.approvals).map((e) => e.toLowerCase()));
    const owners = new Set(groups.flatMap((g) => g.approvers.map((e) => e.toLowerCase())));
    const pending = data.status === "pending";
    const amOwner = owners.has(me.toLowerCase());
    const line = h("p", { "aria-live": "polite" });
    const out = h("div", { "data-preview": "" });
    const buttons: HTMLElement[] = [];
    const act = (label: string, action: "approve" | "reject" | "integrate", reason?: () => string): HTMLElement => {
      const button = h("button", { type: "button", class: action === "reject" ? "secondary" : null }, label);
      button.addEventListener("click", async () => {
        button.setAttribute("disabled", "");
        try {
          await actOnRequest(this.session, this.room, data.id, action, reason?.() ?? "");
          await this.refresh();
          if (action === "integrate") {
            const added = commit.nodes.map((n) => n.name).join(", ");
            this.list.prepend(notice("ok", `Integrated: the room now has ${added || "its new analysts"}. `,
              h("a", { href: `/rooms/${this.room.roomId}/actions` }, "Run it from the Actions tab"), "."));
          }
        } catch (error) {
          line.textContent = "";
          replace(out, notice("error", errorText(error)));
          button.removeAttribute("disabled");
        }
      });
      return button;
    };
    if (pending && amOwner && !approved.has(me.toLowerCase())) buttons.push(act("Approve", "approve"));
    let reasonInput: HTMLInputElement | null = null;
    if (pending && (amOwner || sameEmail(data.requester, me))) {
      const id = `reason-${data.id.slice(0, 16)}`;
      reasonInput = h("input", { id, type: "text", autocomplete: "off" }) as HTMLInputElement;
      const field = reasonInput;
      buttons.push(h("div", { class: "reason" }, h("label", { for: id }, amOwner ? "Reason (if you reject)" : "Reason (if you withdraw)"), field));
      buttons.push(act(amOwner ? "Reject" : "Withdraw", "reject", () => field.value));
    }
    // The core lets the one data owner a request affects run it before approving.
    if (pending && owners.size === 1 && amOwner && commit.nodes.length) {
      const preview = h("button", { type: "button", class: "secondary" }, "Preview");
      preview.addEventListener("click", async () => {
        preview.setAttribute("disabled", "");
        replace(out);
        try {
          const job = await previewRequest(this.session, this.room, view);
          const status = (s: string): void => { line.textContent = `Preview job ${job.jobId.slice(0, 12)}…: ${s}`; };
          if (commit.nodes.at(-1)!.kind === "sql") {
            const result = await this.session.result(job, status);
            replace(out, dataTable(result.table.columns, result.table.rows, `Preview of ${job.node}`));
          } else {
            replace(out, showFiles(await scriptResult(this.session, job, this.room, status), job.node));
          }
          line.textContent = "Preview verified and decrypted in this browser (not yet approved).";
        } catch (error) {
          line.textContent = "";
          replace(out, notice("error", errorText(error)));
        } finally {
          preview.removeAttribute("disabled");
        }
      });
      buttons.push(preview);
    }
    if (data.status === "ready_to_integrate") buttons.push(act("Integrate", "integrate"));

    const ownerRows = groups.flatMap((group) => group.approvers.map((email) => [
      group.node, email,
      approved.has(email.toLowerCase()) ? "Approved"
        : !pending && data.status !== "ready_to_integrate" && data.status !== "integrated" ? "Not approved"
          : data.missing_approvals.includes(group.node) ? "Waiting" : "Not needed (another owner approved)",
    ]));
    return h("div", { class: "card request", "data-request-id": data.id, "data-status": data.status },
      h("h3", {}, commit.nodes.map((n) => n.name).join(", ") || ((commit.owners ?? []).length || (commit.withdrawals ?? []).length ? "People" : "New analysts"), " ",
        h("span", { class: `pill status-${data.status}` }, STATUS_TEXT[data.status] ?? data.status)),
      h("p", {}, h("span", { class: "verified" }, "✓ "), "Request ", h("code", { title: data.id }, `${data.id.slice(0, 12)}…`),
        " by ", commit.requester, ": its commit was verified in this browser to be the one its id names."),
      commit.note ? h("p", { class: "note" }, commit.note) : null,
      ...commit.nodes.map((node) => h("div", { "data-request-node": node.name },
        h("p", {}, h("code", {}, node.name), " ", h("span", { class: "pill" }, node.kind.toUpperCase()),
          " reads ", (Array.isArray(node["dependencies"]) ? (node["dependencies"] as string[]) : []).join(", ") || "nothing",
          typeof node["minimum_rows_count"] === "number" ? ` (privacy filter: at least ${node["minimum_rows_count"]} rows per result row)` : ""),
        h("pre", {}, h("code", {}, String(node["query"] ?? node["script"] ?? ""))))),
      commit.analysts.length ? h("p", {}, "Analysts: ", commit.analysts.map((a) => `${a.email} (${a.analyst_of.join(", ")})`).join("; ")) : null,
      (commit.owners ?? []).length ? h("p", { "data-request-owners": "" }, "New data owners: ", (commit.owners ?? []).map((o) => `${o.email} (${o.data_owner_of.join(", ")})`).join("; ")) : null,
      (commit.withdrawals ?? []).length ? h("p", { "data-request-withdrawals": "" }, "Withdrawn: ", (commit.withdrawals ?? []).map((w) =>
        `${w.email} (no longer ${[...(w.data_owner_of ?? []).map((n) => `data owner of ${n}`), ...(w.analyst_of ?? []).map((n) => `analyst of ${n}`)].join(", ")})`).join("; ")) : null,
      h("h4", {}, "Affected data owners"),
      ownerRows.length
        ? h("div", { "data-owners": "" }, dataTable(["Data node", "Data owner", "Approval"], ownerRows))
        : h("p", { class: "muted" }, "None: the request reads no data node."),
      view.groups === null ? h("p", { class: "hint" }, "These owners are the server's word: the room changed since this request.") : null,
      h("p", { class: "hint" }, "Status and approvals are as the server reports them; the core enforces them, and the audit log records each approval with the approver's signature."),
      data.rejection !== null || data.rejected_by ? h("p", {}, `Rejected by ${data.rejected_by ?? "?"}${data.rejection ? `: ${data.rejection}` : ""}`) : null,
      buttons.length ? h("div", { class: "row actions" }, ...buttons) : null,
      line, out);
  }
}

function validation(draft: CheckedDraft): HTMLElement {
  const rows = draft.groups.flatMap((g) => g.approvers.map((email) => [g.node, email]));
  const node = draft.commit.nodes[0];
  return h("div", { class: "notice ok", role: "status", "data-validated": draft.requestId },
    h("p", {}, h("span", { class: "verified" }, "✓ Valid. "),
      `Checked in this browser: the request says what you wrote, on the room's current history; its id will be `,
      h("code", {}, `${draft.requestId.slice(0, 12)}…`), "."),
    node ? h("p", {}, h("code", {}, node.name), " reads ", ((node["dependencies"] as string[] | undefined) ?? []).join(", ") || "nothing", ".") : null,
    rows.length
      ? h("div", {}, h("p", {}, "Affected data owners (one owner of each data node must approve):"),
          dataTable(["Data node", "Data owner"], rows))
      : h("p", {}, "It reads no data node: nobody needs to approve it."));
}
