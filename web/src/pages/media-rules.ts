// The rule-based part of the Media tab's "Create an audience" form: a source audience, filters
// on the attributes the room's `data_attributes` computation releases (each attribute's values
// held by at least the minimum group size of users), joined by AND or OR, then combination steps
// (INTERSECT, UNION, DIFF) with other audiences, each optionally filtered too. What it yields is
// a RuleInput; media.ruleBasedDefinition turns it into the definition the SDK's
// RuleBasedAudienceBuilder makes (checked against the SDK in tests/vectors/web/media.json).
//
// Invariants: the attributes and values offered are only those `data_attributes` released,
// verified and opened in this browser; nothing here reads data. Every control has a label, and
// each filter and step is a fieldset with its own legend, so a screen reader says which is which.

import { h, replace } from "../dom";
import {
  COMBINE_OPERATORS,
  COMBINE_WORDS,
  FILTER_OPERATORS,
  FILTER_WORDS,
  RULE_ATTRIBUTES,
  type AudienceRef,
  type RuleFilter,
  type RuleFilters,
  type RuleInput,
  type RuleStep,
} from "../media";

/** One audience a rule may start from or combine with. */
export interface RuleSource {
  label: string;
  ref: AudienceRef;
}

let counter = 0;
const nextId = (what: string): string => `rule-${what}-${++counter}`;

function labelled(id: string, label: string, control: HTMLElement): HTMLElement {
  return h("div", { "data-field": id }, h("label", { for: id }, label), control);
}

function sourceSelect(id: string, sources: RuleSource[]): HTMLSelectElement {
  return h("select", { id },
    ...sources.map((s) => h("option", { value: JSON.stringify(s.ref) }, s.label))) as HTMLSelectElement;
}

/** The filters of a source or a step: rows of attribute, operator and values, and whether all
 * or any must hold. `value()` is null when there is no filter (with_filters is not called). */
interface FilterEditor {
  element: HTMLElement;
  value: () => RuleFilters | null;
  /** Name it again ("on combination 2"), after an earlier step was removed. */
  rename: (name: string) => void;
}

function filterEditor(initialName: string, attributes: Map<string, string[]>): FilterEditor {
  let name = initialName;
  const offered = RULE_ATTRIBUTES.filter((a) => attributes.has(a));
  const rows: { element: HTMLElement; value: () => RuleFilter }[] = [];
  const list = h("div", { "data-filter-list": "" });
  const matchName = nextId("match");
  const all = h("input", { type: "radio", name: matchName, id: `${matchName}-all`, value: "AND", checked: true }) as HTMLInputElement;
  const any = h("input", { type: "radio", name: matchName, id: `${matchName}-any`, value: "OR" }) as HTMLInputElement;
  const match = h("fieldset", { class: "hidden", "data-match": "" }, h("legend", {}, "Keep the users who match"),
    h("div", { class: "check" }, all, h("label", { for: all.id }, "all of these filters")),
    h("div", { class: "check" }, any, h("label", { for: any.id }, "any of these filters")));
  const add = h("button", { type: "button", class: "secondary" }, `Add a filter ${name}`) as HTMLButtonElement;
  const sync = (): void => {
    add.textContent = `Add a filter ${name}`;
    match.classList.toggle("hidden", rows.length < 2);
    rows.forEach((row, i) => { row.element.querySelector("legend")!.textContent = `Filter ${i + 1} ${name}`; });
  };
  add.addEventListener("click", () => {
    const row = filterRow(attributes, offered, (gone) => {
      rows.splice(rows.indexOf(gone), 1);
      gone.element.remove();
      sync();
      add.focus();
    });
    rows.push(row);
    list.append(row.element);
    sync();
    row.element.querySelector("select")?.focus();
  });
  if (offered.length === 0) {
    return {
      element: h("p", { class: "muted" }, "This room releases no attribute to filter on (its base audience has neither segments nor demographics)."),
      value: () => null,
      rename: () => undefined,
    };
  }
  return {
    element: h("div", { "data-filters": "" }, list, match, add),
    value: () => rows.length ? { booleanOp: any.checked ? "OR" : "AND", filters: rows.map((r) => r.value()) } : null,
    rename: (newName) => { name = newName; sync(); },
  };
}

function filterRow(
  attributes: Map<string, string[]>, offered: string[], remove: (row: { element: HTMLElement; value: () => RuleFilter }) => void,
): { element: HTMLElement; value: () => RuleFilter } {
  const attributeId = nextId("attribute");
  const operatorId = nextId("operator");
  const attribute = h("select", { id: attributeId }, ...offered.map((a) => h("option", { value: a }, a))) as HTMLSelectElement;
  const operator = h("select", { id: operatorId },
    ...FILTER_OPERATORS.map((o) => h("option", { value: o }, FILTER_WORDS[o] ?? o))) as HTMLSelectElement;
  const values = h("fieldset", { "data-values": "" });
  let boxes: HTMLInputElement[] = [];
  const drawValues = (): void => {
    boxes = (attributes.get(attribute.value) ?? []).map((value) =>
      h("input", { type: "checkbox", id: nextId("value"), value }) as HTMLInputElement);
    replace(values, h("legend", {}, `Values of ${attribute.value}`),
      ...boxes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, box.value))));
  };
  const syncOperator = (): void => {
    values.classList.toggle("hidden", operator.value === "EMPTY" || operator.value === "NOT_EMPTY");
  };
  attribute.addEventListener("change", drawValues);
  operator.addEventListener("change", syncOperator);
  drawValues();
  syncOperator();
  const removeButton = h("button", { type: "button", class: "secondary" }, "Remove this filter") as HTMLButtonElement;
  const row = {
    element: h("fieldset", { "data-filter": "" }, h("legend", {}, "Filter"),
      labelled(attributeId, "Attribute", attribute), labelled(operatorId, "Condition", operator), values, removeButton),
    value: (): RuleFilter => ({ attribute: attribute.value, operator: operator.value, values: boxes.filter((b) => b.checked).map((b) => b.value) }),
  };
  removeButton.addEventListener("click", () => remove(row));
  return row;
}

/** The rule-based fields: source, its filters, and combination steps. */
export function ruleFields(sources: RuleSource[], attributes: Map<string, string[]>): { element: HTMLElement; value: () => RuleInput } {
  const sourceId = nextId("source");
  const source = sourceSelect(sourceId, sources);
  const filters = filterEditor("on the source", attributes);
  const steps: { element: HTMLElement; value: () => RuleStep; filters: FilterEditor }[] = [];
  const list = h("div", { "data-steps": "" });
  const add = h("button", { type: "button", class: "secondary" }, "Add a combination") as HTMLButtonElement;
  const renumber = (): void => steps.forEach((step, i) => {
    step.element.querySelector("legend")!.textContent = `Combination ${i + 1}`;
    step.filters.rename(`on combination ${i + 1}`);
  });
  add.addEventListener("click", () => {
    const operatorId = nextId("combine");
    const otherId = nextId("other");
    const operator = h("select", { id: operatorId },
      ...COMBINE_OPERATORS.map((o) => h("option", { value: o }, COMBINE_WORDS[o] ?? o))) as HTMLSelectElement;
    const other = sourceSelect(otherId, sources);
    const stepFilters = filterEditor(`on combination ${steps.length + 1}`, attributes);
    const removeButton = h("button", { type: "button", class: "secondary" }, "Remove this combination") as HTMLButtonElement;
    const step = {
      filters: stepFilters,
      element: h("fieldset", { "data-step": "" }, h("legend", {}, "Combination"),
        labelled(operatorId, "Then take the audience so far", operator),
        labelled(otherId, "Audience", other),
        stepFilters.element, removeButton),
      value: (): RuleStep => ({ operator: operator.value, source: JSON.parse(other.value) as AudienceRef, filters: stepFilters.value() }),
    };
    removeButton.addEventListener("click", () => {
      steps.splice(steps.indexOf(step), 1);
      step.element.remove();
      renumber();
      add.focus();
    });
    steps.push(step);
    list.append(step.element);
    renumber();
    operator.focus();
  });
  return {
    element: h("div", { "data-rule-based": "" },
      labelled(sourceId, "Start from", source),
      h("fieldset", {}, h("legend", {}, "Filters on the attributes the room releases"),
        h("p", { class: "hint" }, "Only values held by enough users to be released are offered. Without a filter, every user of the audience is kept."),
        filters.element),
      h("fieldset", {}, h("legend", {}, "Combine with other audiences, in order"), list, add)),
    value: () => ({ source: JSON.parse(source.value) as AudienceRef, filters: filters.value(), combine: steps.map((s) => s.value()) }),
  };
}
