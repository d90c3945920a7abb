// "Start from scratch": the room builder. A form for what the seed's guide builds in steps 2–5 —
// a name; datasets (tables with typed columns and validation rules, files); computations (SQL
// with a table browser, Python and R with a file browser, synthetic data, previews) with their
// privacy settings; participants with Data Owner / Analyst permissions and the room's toggles —
// whose result is a JSON template (docs/room-definition.md), handed to `onChange` after every
// change. The page sends that text to the server's draft endpoint, which, with "Test all
// computations", is the authority: the messages shown here only help while typing.
//
// Invariants:
// * Every control has a label (visible, or visually hidden text inside it), groups are fieldsets
//   with legends, and everything is done with Tab, Enter and Space (no drag and drop).
// * Text reaches the page only as text (dom.ts `h`), never as HTML; no inline style or script.
// * Typing never rebuilds the control being typed in: a keystroke updates the template, the
//   messages and the parts that show names (browsers, dependency lists, permissions), which
//   never contain a text field; adding or removing things rebuilds the form and puts the focus
//   where the person is going next.

import { clear, h, notice, replace } from "../dom";
import {
  COMPUTE_KINDS, FORMAT_TYPES, KIND_LABELS, MASK_TYPES, NUMERIC_FORMATS,
  type Json, type JsonObject, type Kind, type Problem, type Ref, type Room, type RoomNode,
  derivedDependencies, emptyRoom, isData, isEmail, isNode, loadTemplate, nextUid,
  nodeName, problems, removeColumn, removeNode, setField, sqlReadable, templateText,
} from "../builder/model";
import { sqlName } from "../builder/sql";

type Child = Node | string | null | false;

/** Render the builder into `container`, starting from `initial` (a template's text) or an empty
 * room, and call `onChange` with the template's JSON text now and after every change. */
export function mountBuilder(container: HTMLElement, initial: string | null, onChange: (templateText: string) => void): void {
  let room: Room;
  try {
    room = initial && initial.trim() ? loadTemplate(initial) : emptyRoom();
  } catch (error) {
    replace(container, notice("error", `This template cannot be edited in the form: ${error instanceof Error ? error.message : String(error)}. Correct it in the JSON view.`));
    return;
  }
  // A fresh element per mount: mounting again (after an edit of the JSON view) leaves no
  // listener of the previous form behind.
  const root = h("div", { class: "builder" });
  replace(container, root);
  new Builder(root, room, onChange).start();
}

type PrivacyMode = "none" | "filter" | "dp";

class Builder {
  private readonly errors = new Map<string, HTMLElement>();
  private readonly controls = new Map<string, HTMLElement>();
  private derived: { element: HTMLElement; fill: () => Child[] }[] = [];
  private readonly privacyModes = new Map<number, PrivacyMode>();
  private summary: HTMLElement = h("div");

  constructor(
    private readonly container: HTMLElement,
    private readonly room: Room,
    private readonly onChange: (text: string) => void,
  ) {}

  start(): void {
    // Enter in a one-line field would submit the page's form (the draft): here it does not.
    this.container.addEventListener("keydown", (event) => {
      const target = event.target as HTMLElement;
      if (event.key === "Enter" && target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)) {
        event.preventDefault();
        if (target.id === "b-new-email") this.addParticipant();
      }
    });
    for (const node of this.room.nodes) {
      if (node.kind === "sql") {
        this.privacyModes.set(node.uid, node.fields["dp_epsilon"] != null ? "dp" : node.fields["minimum_rows_count"] != null ? "filter" : "none");
      }
    }
    this.render();
    this.changed();
  }

  // -- the loop: change → template, messages, names ------------------------------------------
  private changed(): void {
    this.onChange(templateText(this.room));
    this.refreshDerived();
    this.showProblems();
  }

  private render(focusId?: string): void {
    const active = focusId ?? (document.activeElement instanceof HTMLElement && this.container.contains(document.activeElement) ? document.activeElement.id : "");
    this.errors.clear();
    this.controls.clear();
    this.derived = [];
    clear(this.container);
    this.summary = h("div", { class: "builder-summary", role: "status", "data-builder-problems": "0" });
    this.container.append(this.roomPart(), this.datasetsPart(), this.computationsPart(), this.permissionsPart(), this.summary);
    this.refreshDerived();
    this.showProblems();
    if (active) document.getElementById(active)?.focus();
  }

  private refreshDerived(): void {
    for (const part of this.derived) {
      const focused = document.activeElement instanceof HTMLElement && part.element.contains(document.activeElement) ? document.activeElement.id : "";
      for (const key of [...this.errors.keys()]) if (!this.errors.get(key)!.isConnected) this.errors.delete(key);
      replace(part.element, ...part.fill());
      if (focused) document.getElementById(focused)?.focus();
    }
  }

  private showProblems(): void {
    const found: Problem[] = [...problems(this.room), ...this.formProblems()];
    const byField = new Map<string, string[]>();
    for (const problem of found) byField.set(problem.field, [...(byField.get(problem.field) ?? []), problem.message]);
    for (const [field, slot] of this.errors) {
      const messages = byField.get(field) ?? [];
      replace(slot, messages.join(" "));
      slot.classList.toggle("hidden", messages.length === 0);
      const control = this.controls.get(field);
      if (control) {
        if (messages.length) control.setAttribute("aria-invalid", "true");
        else control.removeAttribute("aria-invalid");
      }
    }
    const unplaced = found.filter((problem) => !this.errors.has(problem.field));
    this.summary.dataset["builderProblems"] = String(found.length);
    replace(this.summary,
      found.length === 0
        ? h("p", { class: "verified" }, "✓ Nothing to fix in the form. Continue: the server checks the template, then test all computations.")
        : h("p", { class: "error" }, found.length === 1 ? "1 thing to fix (see the message next to the field)." : `${found.length} things to fix (see the messages next to the fields).`),
      unplaced.length ? h("ul", {}, ...unplaced.map((problem) => h("li", {}, problem.message))) : null);
  }

  /** Problems only the form knows: a privacy setting chosen but not filled in. */
  private formProblems(): Problem[] {
    const found: Problem[] = [];
    for (const node of this.room.nodes) {
      const mode = this.privacyModes.get(node.uid);
      if (mode === "filter" && node.fields["minimum_rows_count"] == null) found.push({ field: `n${node.uid}-minimum`, message: "Type the minimum number of rows, or choose no privacy filter." });
      if (mode === "dp" && node.fields["dp_epsilon"] == null) found.push({ field: `n${node.uid}-epsilon`, message: "Type ε, or choose no differential privacy." });
    }
    return found;
  }

  // -- controls ------------------------------------------------------------------------------
  private errorSlot(key: string): HTMLElement {
    const slot = h("p", { id: `b-${key}-error`, class: "field-error hidden" });
    this.errors.set(key, slot);
    return slot;
  }

  private describe(control: HTMLElement, key: string, hint: HTMLElement | null): HTMLElement {
    this.controls.set(key, control);
    const slot = this.errorSlot(key);
    control.setAttribute("aria-describedby", [hint?.id, slot.id].filter(Boolean).join(" "));
    return slot;
  }

  private textField(key: string, label: string, value: string, onValue: (value: string) => void,
    options: { type?: string; hint?: string; multiline?: boolean; rows?: number; placeholder?: string; max?: number } = {}): HTMLElement {
    const id = `b-${key}`;
    const control = options.multiline
      ? h("textarea", { id, rows: options.rows ?? 6, spellcheck: "false", placeholder: options.placeholder ?? null, maxlength: options.max ?? null })
      : h("input", { id, type: options.type ?? "text", placeholder: options.placeholder ?? null, maxlength: options.max ?? null, autocomplete: "off" });
    (control as HTMLInputElement).value = value;
    control.addEventListener("input", () => { onValue((control as HTMLInputElement).value); this.changed(); });
    const hint = options.hint ? h("p", { class: "hint", id: `${id}-hint` }, options.hint) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }

  private numberField(key: string, label: string, value: Json | undefined, onValue: (value: number | null) => void,
    options: { hint?: string; step?: string; min?: number; max?: number; integer?: boolean } = {}): HTMLElement {
    const id = `b-${key}`;
    const control = h("input", {
      id, type: "number", step: options.step ?? (options.integer ? "1" : "any"), min: options.min ?? null, max: options.max ?? null,
      inputmode: options.integer ? "numeric" : "decimal", class: "builder-number",
    }) as HTMLInputElement;
    control.value = typeof value === "number" ? String(value) : "";
    control.addEventListener("input", () => {
      const number = control.value.trim() === "" ? null : Number(control.value);
      onValue(number !== null && Number.isFinite(number) ? number : null);
      this.changed();
    });
    const hint = options.hint ? h("p", { class: "hint", id: `${id}-hint` }, options.hint) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }

  private checkbox(key: string, label: Child | Child[], checked: boolean, onValue: (checked: boolean) => void, hintText?: string): HTMLElement {
    const id = `b-${key}`;
    const control = h("input", { id, type: "checkbox" }) as HTMLInputElement;
    control.checked = checked;
    control.addEventListener("change", () => { onValue(control.checked); this.changed(); });
    const hint = hintText ? h("span", { class: "hint", id: `${id}-hint` }, hintText) : null;
    if (hint) control.setAttribute("aria-describedby", hint.id);
    return h("div", { class: "builder-check" }, h("label", { for: id, class: "inline" }, control, " ", ...(Array.isArray(label) ? label : [label])), hint);
  }

  private select(key: string, label: string, options: [string, string][], current: string, onValue: (value: string) => void, hintText?: string): HTMLElement {
    const id = `b-${key}`;
    const control = h("select", { id }, ...options.map(([value, text]) => {
      const option = h("option", { value }, text) as HTMLOptionElement;
      option.selected = value === current;
      return option;
    })) as HTMLSelectElement;
    control.addEventListener("change", () => { onValue(control.value); this.changed(); });
    const hint = hintText ? h("p", { class: "hint", id: `${id}-hint` }, hintText) : null;
    const slot = this.describe(control, key, hint);
    return h("div", { class: "builder-field" }, h("label", { for: id }, label), control, hint, slot);
  }

  private button(text: Child | Child[], onClick: () => void, attrs: Record<string, string> = {}): HTMLElement {
    const button = h("button", { type: "button", class: "secondary", ...attrs }, ...(Array.isArray(text) ? text : [text]));
    button.addEventListener("click", onClick);
    return button;
  }

  private derivedPart(tag: string, attrs: Record<string, string>, fill: () => Child[]): HTMLElement {
    const element = h(tag, attrs);
    this.derived.push({ element, fill });
    return element;
  }

  // -- the room ----------------------------------------------------------------------------
  private roomPart(): HTMLElement {
    const fields = this.room.fields;
    const owner = typeof fields["owner"] === "string" ? fields["owner"] : null;
    return h("fieldset", { class: "builder-room" }, h("legend", {}, "Data clean room"),
      this.textField("room-name", "Name", String(fields["name"] ?? ""), (value) => { fields["name"] = value; },
        { max: 200, placeholder: "Confidential computing overlap" }),
      this.textField("room-description", "Description (optional)", String(fields["description"] ?? ""),
        (value) => setField(fields, "description", value), { multiline: true, rows: 2, max: 5000 }),
      h("p", { class: "hint" }, owner ? `Owner: ${owner}.` : "Owner: you, the person who publishes it."));
  }

  // -- datasets ----------------------------------------------------------------------------
  private datasetsPart(): HTMLElement {
    const data = this.room.nodes.filter(isData);
    return h("section", { class: "builder-section", "aria-labelledby": "b-datasets-heading" },
      h("h2", { id: "b-datasets-heading" }, "Datasets"),
      h("p", { class: "hint" }, "What the data owners provision: tables (CSV, validated against the columns below) and files (JSON, TXT, ZIP, …)."),
      data.length ? null : h("p", { class: "muted" }, "No datasets yet."),
      ...data.map((node) => this.dataNode(node)),
      h("div", { class: "row builder-toolbar" },
        this.button("Add table", () => this.addNode("table"), { id: "b-add-table" }),
        this.button("Add file", () => this.addNode("raw"), { id: "b-add-file" })));
  }

  private addNode(kind: Kind): void {
    const fields: JsonObject = { name: "" };
    if (kind === "table") Object.assign(fields, { is_required: true, columns: [{ name: "", format_type: "STRING" }] });
    if (kind === "raw") fields["is_required"] = true;
    if (kind === "sql") fields["query"] = "";
    if (kind === "python" || kind === "r") fields["script"] = "";
    if (kind === "synthetic") fields["epsilon"] = 1;
    const node: RoomNode = { uid: nextUid(), kind, fields, deps: [], derive: kind === "sql" };
    if (kind === "sql") this.privacyModes.set(node.uid, "none");
    if (kind === "synthetic") {
      const table = this.room.nodes.find((other) => other.kind === "table");
      if (table) node.deps = [table];
    }
    if (kind === "preview") {
      const computation = this.room.nodes.find((other) => ["sql", "python", "r", "synthetic"].includes(other.kind));
      if (computation) node.deps = [computation];
    }
    if (isData(node)) {
      // Datasets first, then computations: the template reads in the order of the guide.
      const last = this.room.nodes.map(isData).lastIndexOf(true);
      this.room.nodes.splice(last + 1, 0, node);
    } else {
      this.room.nodes.push(node);
    }
    this.render(`b-n${node.uid}-name`);
    this.changed();
  }

  /** "Remove table" / "Remove file" / "Remove computation", described by the node's legend
   * (which follows its name as it is typed). */
  private removeNodeButton(node: RoomNode, noun: string): HTMLElement {
    return this.button(`Remove ${noun}`, () => {
      removeNode(this.room, node);
      this.render(isData(node) ? "b-add-table" : "b-add-computation");
      this.changed();
    }, { class: "secondary danger", "aria-describedby": `b-n${node.uid}-legend` });
  }

  private nodeHeader(node: RoomNode, what: string): [HTMLElement, HTMLElement] {
    const legend = h("legend", { id: `b-n${node.uid}-legend` }, `${what}: ${nodeName(node) || "(no name yet)"}`);
    const name = this.textField(`n${node.uid}-name`, "Name", nodeName(node), (value) => {
      node.fields["name"] = value;
      replace(legend, `${what}: ${value || "(no name yet)"}`);
    }, { max: 100, hint: "Letters, digits, _, - and spaces; unique in the room. SQL reads it as a table name." });
    return [legend, name];
  }

  private dataNode(node: RoomNode): HTMLElement {
    const what = node.kind === "table" ? "Table" : "File";
    const [legend, name] = this.nodeHeader(node, what);
    const required = this.checkbox(`n${node.uid}-required`, "Required before running", node.fields["is_required"] === true,
      (checked) => setField(node.fields, "is_required", checked, false),
      "Computations reading it are refused until a dataset is provisioned (otherwise they read it empty).");
    const box = h("fieldset", { class: "builder-node", "data-builder-node": node.kind }, legend, name, required);
    if (node.kind === "table") {
      box.append(
        this.checkbox(`n${node.uid}-drop`, "Drop invalid rows instead of refusing the dataset", node.fields["drop_invalid_rows"] === true,
          (checked) => setField(node.fields, "drop_invalid_rows", checked, false)),
        this.columnsPart(node));
    } else if (node.kind === "raw") {
      box.append(h("p", { class: "hint" }, "Any file: JSON, TXT, ZIP or any other kind; read by Python and R computations, not by SQL."));
    }
    box.append(h("div", { class: "row builder-toolbar" }, this.removeNodeButton(node, what.toLowerCase())));
    return box;
  }

  private columnsPart(node: RoomNode): HTMLElement {
    if (!Array.isArray(node.fields["columns"])) node.fields["columns"] = [];
    const columns = node.fields["columns"] as JsonObject[];
    const combos = (): number[][] => (Array.isArray(node.fields["unique_column_combinations"]) ? node.fields["unique_column_combinations"] as number[][] : []);
    const others = combos().filter((combo) => combo.length > 1);
    return h("fieldset", { class: "builder-columns" }, h("legend", {}, "Columns"),
      h("p", { class: "hint" }, "In the CSV's order (no header row is uploaded). Types and rules are checked in the core when a dataset is provisioned."),
      ...columns.map((column, index) => this.columnRow(node, column, index, combos)),
      this.errorSlot(`n${node.uid}-columns`),
      others.length ? h("p", {}, "Also unique together: ",
        others.map((combo) => combo.map((i) => String(columns[i]?.["name"] ?? i)).join(" + ")).join("; "), " (edit in the JSON view).") : null,
      this.button("Add column", () => {
        columns.push({ name: "", format_type: "STRING" });
        this.render(`b-n${node.uid}-c${columns.length - 1}-name`);
        this.changed();
      }, { id: `b-n${node.uid}-add-column` }));
  }

  private columnRow(node: RoomNode, column: JsonObject, index: number, combos: () => number[][]): HTMLElement {
    const key = `n${node.uid}-c${index}`;
    const label = `Column ${index + 1}`;
    const numeric = (): boolean => NUMERIC_FORMATS.has(String(column["format_type"])) && !column["hash_with"];
    const range = (): JsonObject => (column["in_range"] && typeof column["in_range"] === "object" ? column["in_range"] as JsonObject : {});
    const setBound = (side: "low" | "high", value: number | null, op?: string): void => {
      const current = { ...range() };
      const keys = side === "low" ? ["greater_than_equals", "greater_than"] : ["less_than", "less_than_equals"];
      const existing = keys.find((k) => current[k] !== undefined && current[k] !== null);
      const chosen = op ?? existing ?? keys[0]!;
      const previous = existing ? current[existing] : undefined;
      for (const k of keys) delete current[k];
      const bound = op === undefined ? value : (typeof previous === "number" ? previous : null);
      if (bound !== null && bound !== undefined) current[chosen] = bound;
      setField(column, "in_range", Object.keys(current).length ? current : null);
    };
    const boundOp = (side: "low" | "high"): string => {
      const r = range();
      return side === "low" ? (r["greater_than"] != null ? "greater_than" : "greater_than_equals") : (r["less_than_equals"] != null ? "less_than_equals" : "less_than");
    };
    const boundValue = (side: "low" | "high"): Json | undefined => {
      const r = range();
      return side === "low" ? r["greater_than"] ?? r["greater_than_equals"] : r["less_than"] ?? r["less_than_equals"];
    };
    const rangeBox = h("div", { class: "builder-range" },
      this.select(`${key}-low-op`, "Lower bound", [["greater_than_equals", "at least (≥)"], ["greater_than", "more than (>)"]], boundOp("low"), (op) => setBound("low", null, op)),
      this.numberField(`${key}-low`, "Lower value", boundValue("low"), (value) => setBound("low", value)),
      this.select(`${key}-high-op`, "Upper bound", [["less_than", "less than (<)"], ["less_than_equals", "at most (≤)"]], boundOp("high"), (op) => setBound("high", null, op)),
      this.numberField(`${key}-high`, "Upper value", boundValue("high"), (value) => setBound("high", value)));
    const decimalBox = h("div", { class: "builder-range" },
      this.numberField(`${key}-precision`, "Precision (digits)", column["precision"], (value) => setField(column, "precision", value), { integer: true, min: 1, max: 38 }),
      this.numberField(`${key}-scale`, "Scale (after the point)", column["scale"], (value) => setField(column, "scale", value), { integer: true, min: 0, max: 38 }));
    const showOptions = (): void => {
      rangeBox.classList.toggle("hidden", !numeric());
      decimalBox.classList.toggle("hidden", column["format_type"] !== "DECIMAL");
    };
    const formats = new Set<string>(FORMAT_TYPES);
    const current = String(column["format_type"] ?? "STRING");
    const formatOptions: [string, string][] = [...(formats.has(current) ? [] : [[current, current] as [string, string]]), ...FORMAT_TYPES.map((f): [string, string] => [f, f])];
    const unique = combos().some((combo) => combo.length === 1 && combo[0] === index);
    const row = h("fieldset", { class: "builder-column", "data-column": String(index) },
      h("legend", { class: "sr-only" }, label),
      h("div", { class: "builder-column-main" },
        this.textField(`${key}-name`, `${label} name`, String(column["name"] ?? ""), (value) => { column["name"] = value; }, { max: 128 }),
        this.select(`${key}-type`, `${label} type`, formatOptions, current, (value) => {
          column["format_type"] = value;
          if (value === "DECIMAL") {
            if (column["precision"] == null) column["precision"] = 18;
            if (column["scale"] == null) column["scale"] = 2;
          } else {
            delete column["precision"];
            delete column["scale"];
          }
          if (!numeric()) delete column["in_range"];
          this.render();
        }),
        h("div", { class: "builder-flags" },
          this.checkbox(`${key}-nullable`, ["Nullable", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)], column["is_nullable"] !== false,
            (checked) => setField(column, "is_nullable", checked, true)),
          this.checkbox(`${key}-unique`, ["Unique", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)], unique, (checked) => {
            const kept = combos().filter((combo) => !(combo.length === 1 && combo[0] === index));
            if (checked) kept.push([index]);
            kept.sort((a, b) => (a.length === 1 && b.length === 1 ? a[0]! - b[0]! : 0));
            setField(node.fields, "unique_column_combinations", kept.length ? kept : null);
          }),
          this.checkbox(`${key}-hashed`, ["Hashed (SHA-256)", h("span", { class: "sr-only" }, ` (${label.toLowerCase()})`)], column["hash_with"] === "SHA256_HEX",
            (checked) => {
              setField(column, "hash_with", checked ? "SHA256_HEX" : null);
              if (!numeric()) delete column["in_range"];
              showOptions();
            }, "the owner uploads SHA-256 hex digests of the values")),
        this.button(["Remove", h("span", { class: "sr-only" }, ` ${label.toLowerCase()}`)], () => {
          removeColumn(this.room, node, index);
          this.render(`b-n${node.uid}-add-column`);
          this.changed();
        }, { class: "secondary danger" })),
      rangeBox, decimalBox);
    showOptions();
    return row;
  }

  // -- computations ------------------------------------------------------------------------
  private computationsPart(): HTMLElement {
    const compute = this.room.nodes.filter((node) => !isData(node));
    const kinds = h("select", { id: "b-new-kind" }, ...COMPUTE_KINDS.map((kind) => h("option", { value: kind }, KIND_LABELS[kind]))) as HTMLSelectElement;
    return h("section", { class: "builder-section", "aria-labelledby": "b-computations-heading" },
      h("h2", { id: "b-computations-heading" }, "Computations"),
      h("p", { class: "hint" }, "SQL, Python, R or synthetic data, reading the datasets and each other's results. “Test all computations” (after Continue) runs each over empty tables and shows its result schema."),
      compute.length ? null : h("p", { class: "muted" }, "No computations yet."),
      ...compute.map((node) => this.computeNode(node)),
      h("div", { class: "row builder-toolbar" },
        h("div", { class: "builder-field" }, h("label", { for: "b-new-kind" }, "Computation type"), kinds),
        this.button("Add computation", () => this.addNode(kinds.value as Kind), { id: "b-add-computation" })),
      this.privacyPart());
  }

  private computeNode(node: RoomNode): HTMLElement {
    const what = KIND_LABELS[node.kind] ?? node.kind;
    const [legend, name] = this.nodeHeader(node, `${what} computation`);
    const box = h("fieldset", { class: "builder-node", "data-builder-node": node.kind }, legend, name);
    if (node.kind === "sql") box.append(...this.sqlParts(node));
    else if (node.kind === "python" || node.kind === "r") box.append(...this.scriptParts(node));
    else if (node.kind === "synthetic") box.append(...this.syntheticParts(node));
    else if (node.kind === "preview") box.append(...this.previewParts(node));
    else box.append(h("p", { class: "hint" }, "A kind of node this form does not edit: it is kept as written (see the JSON view)."));
    box.append(h("div", { class: "row builder-toolbar" }, this.removeNodeButton(node, "computation")));
    return box;
  }

  private sqlParts(node: RoomNode): HTMLElement[] {
    const id = `n${node.uid}`;
    const editor = this.textField(`${id}-query`, "Query (SQL, DuckDB dialect)", String(node.fields["query"] ?? ""),
      (value) => { node.fields["query"] = value; }, { multiline: true, rows: 9, placeholder: "SELECT COUNT(*) AS customers FROM bank_customers" });
    const textarea = editor.querySelector("textarea")!;
    const browser = this.derivedPart("div", { class: "builder-browser", role: "group", "aria-labelledby": `b-${id}-browser-heading` }, () => {
      const tables = this.room.nodes.filter((other) => other !== node && sqlReadable(other) && nodeName(other));
      return [
        h("h3", { id: `b-${id}-browser-heading` }, "Table browser"),
        h("p", { class: "hint" }, "Insert a table or column name at the cursor."),
        tables.length === 0 ? h("p", { class: "muted" }, "Add a table first.") : null,
        h("ul", { class: "builder-tree" }, ...tables.map((table) => h("li", {},
          this.insertButton(textarea, node, sqlName(nodeName(table)),
            [h("span", { class: "sr-only" }, "Insert table "), nodeName(table), " ", h("span", { class: "pill" }, KIND_LABELS[table.kind])]),
          table.kind === "table" ? h("ul", {}, ...((table.fields["columns"] ?? []) as JsonObject[]).filter((c) => c["name"]).map((column) => h("li", {},
            this.insertButton(textarea, node, sqlName(String(column["name"])), [h("span", { class: "sr-only" }, "Insert column "), String(column["name"]),
              h("span", { class: "sr-only" }, ` of ${nodeName(table)}`), " ", h("span", { class: "muted" }, String(column["format_type"] ?? ""))])))) : null))),
      ];
    });
    const derive = this.checkbox(`${id}-derive`, "Inputs: the tables the query names", node.derive, (checked) => {
      if (!checked) node.deps = derivedDependencies(node, this.room.nodes);
      node.derive = checked;
    }, "Untick to choose the inputs yourself.");
    const deps = this.derivedPart("div", { class: "builder-deps" }, () => {
      if (node.derive) {
        const found = derivedDependencies(node, this.room.nodes);
        return [h("p", { "data-derived-deps": found.map(nodeName).join(",") }, "Reads: ", found.length ? found.map(nodeName).join(", ") : "nothing yet")];
      }
      const candidates = this.room.nodes.filter((other) => other !== node && sqlReadable(other));
      return [h("fieldset", {}, h("legend", {}, "Inputs"), ...candidates.map((other) =>
        this.checkbox(`${id}-dep-n${other.uid}`, nodeName(other) || "(no name yet)", node.deps.includes(other), (checked) => {
          node.deps = checked ? this.inRoomOrder([...node.deps, other]) : node.deps.filter((dep) => dep !== other);
        })))];
    });
    const depsSlot = this.errorSlot(`${id}-deps`);
    return [
      h("div", { class: "builder-editor" }, h("div", {}, editor, derive, deps, depsSlot), browser),
      this.sqlPrivacy(node),
    ];
  }

  private insertButton(textarea: HTMLTextAreaElement, node: RoomNode, text: string, content: Child[]): HTMLElement {
    return this.button(content, () => {
      const start = textarea.selectionStart ?? textarea.value.length;
      const end = textarea.selectionEnd ?? start;
      const before = textarea.value.slice(0, start);
      const spaced = before && !/[\s(,.]$/.test(before) ? ` ${text}` : text;
      textarea.setRangeText(spaced, start, end, "end");
      node.fields["query"] = textarea.value;
      textarea.focus();
      this.changed();
    }, { class: "link" });
  }

  private inRoomOrder(refs: Ref[]): Ref[] {
    const unique = refs.filter((ref, index) => refs.indexOf(ref) === index);
    return unique.sort((a, b) => (isNode(a) ? this.room.nodes.indexOf(a) : 1e9) - (isNode(b) ? this.room.nodes.indexOf(b) : 1e9));
  }

  private sqlPrivacy(node: RoomNode): HTMLElement {
    const id = `n${node.uid}`;
    const mode = this.privacyModes.get(node.uid) ?? "none";
    const filterBox = h("div", { class: "builder-indent" },
      this.numberField(`${id}-minimum`, "Privacy filter minimum rows", node.fields["minimum_rows_count"],
        (value) => setField(node.fields, "minimum_rows_count", value !== null ? Math.trunc(value) : null),
        { integer: true, min: 2, max: 100_000, hint: "Every result row aggregates at least this many rows (or people, with a privacy unit column) of each input." }));
    const dpBox = h("div", { class: "builder-indent builder-range" },
      this.numberField(`${id}-epsilon`, "Differential privacy ε", node.fields["dp_epsilon"], (value) => setField(node.fields, "dp_epsilon", value), { min: 0, max: 10, hint: "Spent from the room's budget at each run." }),
      this.numberField(`${id}-delta`, "δ", node.fields["dp_delta"] ?? 1e-6, (value) => setField(node.fields, "dp_delta", value, 1e-6)),
      this.numberField(`${id}-rows-per-unit`, "Rows per privacy unit", node.fields["dp_max_rows_per_unit"] ?? 1,
        (value) => setField(node.fields, "dp_max_rows_per_unit", value !== null ? Math.trunc(value) : null, 1), { integer: true, min: 1 }));
    const show = (chosen: PrivacyMode): void => {
      filterBox.classList.toggle("hidden", chosen !== "filter");
      dpBox.classList.toggle("hidden", chosen !== "dp");
    };
    const radios = (["none", "filter", "dp"] as PrivacyMode[]).map((value) => {
      const radioId = `b-${id}-privacy-${value}`;
      const radio = h("input", { type: "radio", id: radioId, name: `b-${id}-privacy`, value }) as HTMLInputElement;
      radio.checked = value === mode;
      radio.addEventListener("change", () => {
        this.privacyModes.set(node.uid, value);
        for (const key of ["minimum_rows_count", "dp_epsilon", "dp_delta", "dp_max_rows_per_unit"]) {
          if ((value !== "filter" && key === "minimum_rows_count") || (value !== "dp" && key !== "minimum_rows_count")) delete node.fields[key];
        }
        if (value === "filter" && node.fields["minimum_rows_count"] == null) {
          const typed = Number((document.getElementById(`b-${id}-minimum`) as HTMLInputElement | null)?.value);
          setField(node.fields, "minimum_rows_count", Number.isFinite(typed) && typed > 0 ? Math.trunc(typed) : null);
        }
        if (value === "dp" && node.fields["dp_epsilon"] == null) {
          const typed = Number((document.getElementById(`b-${id}-epsilon`) as HTMLInputElement | null)?.value);
          setField(node.fields, "dp_epsilon", Number.isFinite(typed) && typed > 0 ? typed : null);
        }
        show(value);
        this.changed();
      });
      const text = { none: "None: the result as the query computes it", filter: "Privacy filter", dp: "Differential privacy" }[value];
      return h("label", { for: radioId, class: "inline" }, radio, " ", text);
    });
    show(mode);
    return h("fieldset", { class: "builder-privacy" }, h("legend", {}, "Privacy settings"), ...radios, filterBox, dpBox, this.errorSlot(`${id}-privacy`));
  }

  private scriptParts(node: RoomNode): HTMLElement[] {
    const id = `n${node.uid}`;
    const main = node.kind === "python" ? "main.py" : "main.R";
    const editor = this.textField(`${id}-script`, `Script (${main})`, String(node.fields["script"] ?? ""), (value) => { node.fields["script"] = value; },
      { multiline: true, rows: 12, hint: "Inputs are mounted under /input/<name>; write the result to /output." });
    const browser = this.derivedPart("div", { class: "builder-browser", role: "group", "aria-labelledby": `b-${id}-files-heading` }, () => {
      const candidates = this.room.nodes.filter((other) => other !== node && other.kind !== "preview");
      return [
        h("h3", { id: `b-${id}-files-heading` }, "File browser"),
        h("fieldset", {}, h("legend", {}, "Available data"),
          candidates.length === 0 ? h("p", { class: "muted" }, "Add a dataset first.") : null,
          ...candidates.map((other) => this.checkbox(`${id}-dep-n${other.uid}`, [
            nodeName(other) || "(no name yet)", " ", h("code", {}, `/input/${nodeName(other)}`)], node.deps.includes(other), (checked) => {
            node.deps = checked ? this.inRoomOrder([...node.deps, other]) : node.deps.filter((dep) => dep !== other);
          }))),
      ];
    });
    if (!Array.isArray(node.fields["additional_files"])) node.fields["additional_files"] = [];
    const files = node.fields["additional_files"] as JsonObject[];
    const filesBox = h("fieldset", { class: "builder-files" }, h("legend", {}, "Additional files"),
      h("p", { class: "hint" }, "Text files mounted next to the script at /input/code/<name>."),
      ...files.map((file, index) => h("div", { class: "builder-file" },
        this.textField(`${id}-f${index}-name`, `File ${index + 1} name`, String(file["name"] ?? ""), (value) => { file["name"] = value; }, { max: 100 }),
        this.textField(`${id}-f${index}-content`, `File ${index + 1} content`, String(file["content"] ?? ""), (value) => { file["content"] = value; }, { multiline: true, rows: 4 }),
        this.button(["Remove", h("span", { class: "sr-only" }, ` file ${index + 1}`)], () => {
          files.splice(index, 1);
          this.render(`b-${id}-add-file`);
          this.changed();
        }, { class: "secondary danger" }))),
      this.button("Add additional file", () => {
        files.push({ name: "", content: "" });
        this.render(`b-${id}-f${files.length - 1}-name`);
        this.changed();
      }, { id: `b-${id}-add-file` }));
    return [
      h("div", { class: "builder-editor" }, editor, browser),
      filesBox,
      this.logChecks(node),
    ];
  }

  private logChecks(node: RoomNode): HTMLElement {
    const id = `n${node.uid}`;
    return h("fieldset", {}, h("legend", {}, "Logs"),
      this.checkbox(`${id}-logs-error`, "Show logs of a failed run", node.fields["enable_logs_on_error"] === true,
        (checked) => setField(node.fields, "enable_logs_on_error", checked, false), "stdout and stderr may hold data values"),
      this.checkbox(`${id}-logs-success`, "Show logs of a successful run", node.fields["enable_logs_on_success"] === true,
        (checked) => setField(node.fields, "enable_logs_on_success", checked, false)));
  }

  private sourceSelect(node: RoomNode, key: string, label: string, accept: (other: RoomNode) => boolean): HTMLElement {
    return this.derivedPart("div", {}, () => {
      const candidates = this.room.nodes.filter((other) => other !== node && accept(other));
      const current = node.deps[0];
      const options: [string, string][] = [["", "— choose —"], ...candidates.map((other): [string, string] => [String(other.uid), nodeName(other) || "(no name yet)"])];
      if (current && !isNode(current)) options.push([`dangling`, current.dangling]);
      const value = current ? (isNode(current) ? String(current.uid) : "dangling") : "";
      return [this.select(key, label, options, value, (chosen) => {
        if (chosen === "dangling") return;
        const picked = candidates.find((other) => String(other.uid) === chosen);
        node.deps = picked ? [picked] : [];
        if (node.kind === "synthetic") delete node.fields["columns"]; // masks were by position in the old source
      })];
    });
  }

  private syntheticParts(node: RoomNode): HTMLElement[] {
    const id = `n${node.uid}`;
    const masks = this.derivedPart("fieldset", { class: "builder-masks" }, () => {
      const source = node.deps[0];
      const entries = (): JsonObject[] => (Array.isArray(node.fields["columns"]) ? node.fields["columns"] as JsonObject[] : []);
      const head = h("legend", {}, "Columns to mask");
      if (!source || !isNode(source) || source.kind !== "table") {
        return [head, h("p", { class: "hint" }, "Choose a table as the source to pick the columns to mask (masks of other sources: edit in the JSON view).")];
      }
      const columns = (source.fields["columns"] ?? []) as JsonObject[];
      return [head,
        h("p", { class: "hint" }, "A masked column is replaced by random values of its kind; the others are synthesised with differential privacy."),
        ...columns.map((column, index) => {
          const entry = entries().find((item) => item["index"] === index);
          const format = String(column["format_type"] ?? "");
          const dataType = format === "INTEGER" ? "integer" : format === "FLOAT" || format === "DECIMAL" ? "float" : "string";
          const label = String(column["name"] ?? "") || `column ${index + 1}`;
          return h("div", { class: "row" },
            this.checkbox(`${id}-mask-${index}`, `Mask ${label}`, entry?.["should_mask_column"] === true, (checked) => {
              const kept = entries().filter((item) => item["index"] !== index);
              if (checked) {
                const maskType = format === "EMAIL" ? "email" : format === "PHONE_NUMBER_E164" ? "phoneNumber" : format.startsWith("DATE") ? "date"
                  : format.startsWith("TIMESTAMP") ? "timestamp" : dataType === "string" ? "genericString" : "genericNumber";
                kept.push({ index, data_type: dataType, mask_type: maskType, should_mask_column: true, is_nullable: column["is_nullable"] !== false, name: label });
                kept.sort((a, b) => Number(a["index"]) - Number(b["index"]));
              }
              setField(node.fields, "columns", kept.length ? kept : null);
            }),
            entry?.["should_mask_column"] === true ? this.select(`${id}-mask-${index}-type`, `Mask ${label} as`, MASK_TYPES.map((m): [string, string] => [m, m]),
              String(entry["mask_type"] ?? "genericString"), (value) => { entry["mask_type"] = value; }) : null);
        })];
    });
    return [
      this.sourceSelect(node, `${id}-source`, "Source table", (other) => ["table", "sql", "python", "r", "synthetic"].includes(other.kind)),
      h("div", { class: "builder-range" },
        this.numberField(`${id}-epsilon`, "ε (privacy loss of one run)", node.fields["epsilon"], (value) => setField(node.fields, "epsilon", value), { min: 0, max: 100 }),
        this.select(`${id}-model`, "Model", [["mst", "MST"], ["aim", "AIM"]], String(node.fields["model"] ?? "mst"), (value) => setField(node.fields, "model", value, "mst"))),
      masks,
      this.checkbox(`${id}-statistics`, "Add a quality report", node.fields["output_original_data_statistics"] === true,
        (checked) => setField(node.fields, "output_original_data_statistics", checked, false)),
      this.logChecks(node),
    ];
  }

  private previewParts(node: RoomNode): HTMLElement[] {
    const id = `n${node.uid}`;
    return [
      this.sourceSelect(node, `${id}-source`, "Computation previewed", (other) => ["sql", "python", "r", "synthetic"].includes(other.kind)),
      this.numberField(`${id}-quota`, "Quota per analyst (bytes)", node.fields["quota_bytes"] ?? 0,
        (value) => setField(node.fields, "quota_bytes", value !== null ? Math.trunc(value) : null, 0), { integer: true, min: 0, hint: "Its analysts read the result, up to this many bytes in all, without being analysts of the computation." }),
    ];
  }

  private privacyPart(): HTMLElement {
    const fields = this.room.fields;
    const privacy = (): JsonObject => {
      if (!fields["privacy"] || typeof fields["privacy"] !== "object") fields["privacy"] = {};
      return fields["privacy"] as JsonObject;
    };
    const tidy = (): void => { if (Object.keys(privacy()).length === 0) delete fields["privacy"]; };
    const current = (fields["privacy"] && typeof fields["privacy"] === "object" ? fields["privacy"] : {}) as JsonObject;
    return h("fieldset", { class: "builder-room-privacy" }, h("legend", {}, "Room privacy settings"),
      this.textField("privacy-unit", "Privacy unit column (optional)", String(current["unit_column"] ?? ""),
        (value) => { setField(privacy(), "unit_column", value); tidy(); }, { max: 200, hint: "A column naming a person (e.g. customer_id): the privacy filter counts distinct people, not rows." }),
      this.checkbox("privacy-revealing", "Allow revealing aggregates (MIN, MAX, MEDIAN …) through the privacy filter", current["allow_revealing_aggregates"] === true,
        (checked) => { setField(privacy(), "allow_revealing_aggregates", checked, false); tidy(); }),
      h("div", { class: "builder-range" },
        this.numberField("privacy-budget", "Differential privacy budget ε", current["dp_epsilon_budget"], (value) => { setField(privacy(), "dp_epsilon_budget", value); tidy(); },
          { min: 0, max: 1000, hint: "Needed by differentially private SQL and synthetic data." }),
        this.numberField("privacy-delta", "Budget δ", current["dp_delta_budget"] ?? 1e-5, (value) => { setField(privacy(), "dp_delta_budget", value, 1e-5); tidy(); })));
  }

  // -- permissions --------------------------------------------------------------------------
  private permissionsPart(): HTMLElement {
    const fields = this.room.fields;
    const newEmail = h("input", { id: "b-new-email", type: "email", autocomplete: "off", placeholder: "ann@bank.example" }) as HTMLInputElement;
    const newSlot = this.errorSlot("new-email");
    newEmail.setAttribute("aria-describedby", newSlot.id);
    this.controls.set("new-email", newEmail);
    return h("section", { class: "builder-section", "aria-labelledby": "b-permissions-heading" },
      h("h2", { id: "b-permissions-heading" }, "Permissions"),
      h("fieldset", {}, h("legend", {}, "After publishing"),
        this.checkbox("interactive", "Enable data clean room interactivity", fields["interactive"] === true,
          (checked) => { fields["interactive"] = checked; }, "Participants may request new computations, approved by the Data Owners they affect; otherwise the room never changes."),
        this.checkbox("development", "Enable development environment", fields["enable_development"] === true,
          (checked) => { fields["enable_development"] = checked; }, "Participants may run their own computations over the data and results they may already read."),
        this.checkbox("basic", "Every participant may read the definition, status, audit log and list of datasets", fields["basic_permissions"] !== false,
          (checked) => setField(fields, "basic_permissions", checked, true))),
      h("h3", {}, "Participants"),
      h("p", { class: "hint" }, "An invitation is sent to each participant as soon as the data clean room is published."),
      this.room.people.length ? null : h("p", { class: "muted" }, "No participants yet."),
      ...this.room.people.map((person) => this.personPart(person)),
      h("div", { class: "row builder-toolbar builder-add-person" },
        h("div", { class: "builder-field" }, h("label", { for: "b-new-email" }, "Participant e-mail"), newEmail, newSlot),
        this.button("Add participant", () => this.addParticipant(), { id: "b-add-participant" })));
  }

  private addParticipant(): void {
    const input = document.getElementById("b-new-email") as HTMLInputElement;
    const email = input.value.trim();
    const slot = this.errors.get("new-email")!;
    const fail = (message: string): void => {
      replace(slot, message);
      slot.classList.remove("hidden");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    };
    if (!isEmail(email)) return fail("Type an e-mail address, like ann@bank.example.");
    if (this.room.people.some((person) => String(person.fields["email"]).toLowerCase() === email.toLowerCase())) return fail("This participant is already listed.");
    this.room.people.push({ uid: nextUid(), fields: { email }, owns: [], analyses: [] });
    this.render("b-new-email");
    this.changed();
  }

  private personPart(person: { uid: number; fields: JsonObject; owns: Ref[]; analyses: Ref[] }): HTMLElement {
    const id = `p${person.uid}`;
    const legend = h("legend", {}, String(person.fields["email"] ?? ""));
    const roles = this.derivedPart("div", { class: "builder-roles" }, () => {
      const data = this.room.nodes.filter(isData);
      const compute = this.room.nodes.filter((node) => !isData(node));
      const role = (node: RoomNode, list: "owns" | "analyses", word: string): HTMLElement =>
        this.checkbox(`${id}-${list}-n${node.uid}`, [h("span", { class: "builder-role" }, word), ` of ${nodeName(node) || "(no name yet)"}`], person[list].includes(node), (checked) => {
          person[list] = checked ? this.inRoomOrder([...person[list], node]) : person[list].filter((ref) => ref !== node);
        });
      return [
        h("fieldset", {}, h("legend", {}, "Datasets"), data.length ? null : h("p", { class: "muted" }, "None yet."), ...data.map((node) => role(node, "owns", "Data Owner"))),
        h("fieldset", {}, h("legend", {}, "Computations"), compute.length ? null : h("p", { class: "muted" }, "None yet."), ...compute.map((node) => role(node, "analyses", "Analyst"))),
      ];
    });
    return h("fieldset", { class: "builder-person", "data-participant": String(person.fields["email"] ?? "") }, legend,
      h("div", { class: "row" },
        this.textField(`${id}-email`, "E-mail", String(person.fields["email"] ?? ""), (value) => {
          person.fields["email"] = value.trim();
          replace(legend, value.trim());
        }, { type: "email" }),
        this.button(["Remove participant", h("span", { class: "sr-only" }, ` ${String(person.fields["email"] ?? "")}`)], () => {
          this.room.people = this.room.people.filter((other) => other !== person);
          this.render("b-new-email");
          this.changed();
        }, { class: "secondary danger" })),
      roles);
  }
}
