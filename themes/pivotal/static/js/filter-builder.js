// The filter builder of the segment form (docs/ui.md, "Filter builder"): nested groups
// (all of / any of / none of) of rules (field, operator, value), built with the mouse or
// the keyboard. The definition is kept as JSON in the form's hidden "definition" field, so
// the server saves exactly what was counted; every change is counted live (debounced) by
// the staff UI's preview endpoint, and the errors it names by path
// (definition.rules[1].rules[0].value) are shown at the rule they belong to.
//
// DOM contract: pivotal_core/audience/templates/audience/filter_builder.jinja2.
// Keys act only on a focused rule or group row, never while typing in a field.

import { isTyping } from "./keyboard.js";

const DEBOUNCE_MS = 300;
const GROUP_OPS = [
  ["and", "All"],
  ["or", "Any"],
  ["not", "None"],
];
const KEY_ACTIONS = { a: "add-rule", g: "add-group", Delete: "remove", Backspace: "remove" };
const PART_LABELS = { field: "Field", operator: "Operator", value: "Value", op: "Group", rules: "Group" };
let serial = 0; // ids for labels and listboxes

// --- small helpers ---------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function isGroup(node) {
  return !!node && typeof node === "object" && Array.isArray(node.rules);
}

function emptyRule() {
  return { field: "", operator: "", value: null };
}

function readJson(element, fallback) {
  try {
    return JSON.parse(element?.textContent ?? element?.value ?? "");
  } catch {
    return fallback;
  }
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

function plural(entity, n) {
  return n === 1 ? entity : `${entity}s`;
}

// --- the builder -----------------------------------------------------------------------

class FilterBuilder {
  constructor(root) {
    this.root = root;
    root.dataset.ready = "1";
    this.config = readJson(root.querySelector("[data-builder-config]"), {});
    this.errors = readJson(root.querySelector("[data-builder-errors]"), {}) || {};
    this.hidden = root.querySelector("[data-builder-definition]");
    this.treeEl = root.querySelector("[data-builder-tree]");
    this.countEl = root.querySelector("[data-live-count]");
    this.sampleEl = root.querySelector("[data-builder-sample]");
    this.form = root.closest("form");
    this.entitySelect = this.form?.elements.namedItem(root.dataset.entityField || "entityType") ?? null;
    this.entity = this.entitySelect?.value || "contact";
    const stored = readJson({ value: this.hidden.value }, null);
    this.tree = isGroup(stored) ? stored : { op: "and", rules: [] };
    this.timer = null;
    this.request = null; // the AbortController of the count in flight
    this.sequence = 0;
    this.picker = null;

    this.treeEl.addEventListener("keydown", (event) => this.onKeydown(event));
    this.treeEl.addEventListener("click", (event) => this.onClick(event));
    this.entitySelect?.addEventListener("change", () => {
      this.entity = this.entitySelect.value || "contact";
      this.changed();
    });
    root.querySelector("[data-load-saved]")?.addEventListener("change", (event) => this.loadSaved(event.target));
    // A value typed into a chip field but not yet added still belongs to the filter.
    this.form?.addEventListener("submit", () => this.commitChipInputs(), true);

    this.render();
    if (Object.keys(this.errors).length) this.showState("invalid", "Fix the marked rules, then save again.");
    else this.changed({ structural: false, keepErrors: true, delay: 0 });
  }

  // -- the field registry of the current entity --

  get fields() {
    const cached = this.fieldCache;
    if (cached?.entity === this.entity) return cached.byKey;
    const byKey = new Map();
    for (const category of this.config.fields?.[this.entity] ?? []) {
      for (const field of category.fields) byKey.set(field.key, { ...field, categoryLabel: category.label });
    }
    this.fieldCache = { entity: this.entity, byKey };
    return byKey;
  }

  shape(operator) {
    return this.config.operators?.[operator]?.value ?? "none";
  }

  defaultValue(field, operator) {
    switch (this.shape(operator)) {
      case "none":
        return null;
      case "list":
      case "ids":
        return [];
      case "range":
        return [null, null];
      case "days":
        return 30;
      case "choice":
        return field.choices?.[0] ?? null;
      default:
        return field.type === "bool" ? true : null;
    }
  }

  // What a rule still lacks before it can be counted ("" when complete).
  missing(rule) {
    if (!rule.field) return "choose a field";
    if (!this.fields.has(rule.field)) return "";
    if (!rule.operator) return "choose an operator";
    const value = rule.value;
    const blank = (v) => v === null || v === undefined || v === "";
    switch (this.shape(rule.operator)) {
      case "none":
        return "";
      case "list":
      case "ids":
        return Array.isArray(value) && value.length ? "" : "add at least one value";
      case "range":
        return Array.isArray(value) && value.length === 2 && !value.some(blank) ? "" : "enter both values";
      default:
        return blank(value) ? "enter a value" : "";
    }
  }

  // -- structure --

  walk(visit, node = this.tree, parent = null, path = "definition", depth = 1) {
    visit(node, parent, path, depth);
    if (isGroup(node)) node.rules.forEach((child, i) => this.walk(visit, child, node, `${path}.rules[${i}]`, depth + 1));
  }

  nodeCount() {
    let n = 0;
    this.walk(() => n++);
    return n;
  }

  changed({ structural = true, keepErrors = false, delay = DEBOUNCE_MS, focus = null } = {}) {
    if (!keepErrors) this.errors = {};
    this.hidden.value = JSON.stringify(this.tree);
    if (structural) this.render(focus);
    else this.markRules();
    this.scheduleCount(delay);
  }

  add(kind, at) {
    const limits = this.config.limits ?? {};
    if (this.nodeCount() + (kind === "group" ? 2 : 1) > (limits.maxRules ?? 200)) {
      this.showState("invalid", `A filter holds at most ${limits.maxRules} rules and groups.`);
      return;
    }
    const parent = isGroup(at) ? at : this.parents.get(at);
    const index = isGroup(at) ? parent.rules.length : parent.rules.indexOf(at) + 1;
    let node = emptyRule();
    let firstRule = node;
    if (kind === "group") {
      if ((this.depths.get(parent) ?? 1) + 1 > (limits.maxDepth ?? 8)) {
        this.showState("invalid", `Groups nest at most ${limits.maxDepth} levels deep.`);
        return;
      }
      // An OR inside an AND is what people reach for; and the other way round.
      node = { op: parent.op === "or" ? "and" : "or", rules: [firstRule] };
    }
    parent.rules.splice(index, 0, node);
    this.changed({ focus: { node: firstRule } });
    this.openPicker(firstRule);
  }

  remove(node) {
    const parent = this.parents.get(node);
    if (!parent) return;
    const index = parent.rules.indexOf(node);
    parent.rules.splice(index, 1);
    const next = parent.rules[index] ?? parent.rules[index - 1] ?? parent;
    this.changed({ focus: { node: next } });
  }

  move(node, step) {
    const parent = this.parents.get(node);
    if (!parent) return;
    const index = parent.rules.indexOf(node);
    const to = index + step;
    if (to < 0 || to >= parent.rules.length) return;
    parent.rules.splice(index, 1);
    parent.rules.splice(to, 0, node);
    this.changed({ focus: { node } });
  }

  cycleOp(group, focus = group) {
    const ops = GROUP_OPS.map(([op]) => op);
    group.op = ops[(ops.indexOf(group.op) + 1) % ops.length];
    this.changed({ focus: { node: focus } });
  }

  setField(rule, key) {
    const field = this.fields.get(key);
    if (!field) return;
    const before = this.fields.get(rule.field);
    rule.field = key;
    if (!field.operators.includes(rule.operator)) {
      rule.operator = field.operators[0];
      rule.value = this.defaultValue(field, rule.operator);
    } else if (!before || before.type !== field.type || before.choices !== field.choices) {
      rule.value = this.defaultValue(field, rule.operator);
    }
    this.changed({ focus: { node: rule, part: "operator" } });
  }

  setOperator(rule, operator) {
    const field = this.fields.get(rule.field);
    const sameShape = this.shape(operator) === this.shape(rule.operator);
    rule.operator = operator;
    if (!sameShape && field) rule.value = this.defaultValue(field, operator);
    this.changed({ focus: { node: rule, part: "operator" } });
  }

  loadSaved(select) {
    const saved = (this.config.savedFilters ?? []).find((f) => String(f.id) === select.value);
    select.value = "";
    if (!saved) return;
    if (this.tree.rules.length && !window.confirm(`Replace the rules with the saved filter “${saved.name}”?`)) return;
    this.tree = structuredClone(saved.definition);
    if (this.entitySelect && saved.entityType !== this.entity) {
      this.entitySelect.value = saved.entityType;
      this.entity = saved.entityType;
    }
    this.changed({ focus: { node: this.tree } });
  }

  // -- rendering --

  render(focus = null) {
    this.closePicker(false);
    this.elements = new Map(); // node -> its row element
    this.nodes = new WeakMap(); // row element -> node
    this.parents = new Map();
    this.depths = new Map();
    this.paths = new Map();
    this.walk((node, parent, path, depth) => {
      if (parent) this.parents.set(node, parent);
      this.depths.set(node, depth);
      this.paths.set(node, path);
    });
    this.treeEl.replaceChildren(this.renderGroup(this.tree));
    this.markRules();
    if (focus) this.focus(focus.node, focus.part);
  }

  renderGroup(group) {
    const isRoot = group === this.tree;
    const element = h("div", {
      class: `fb-group${isRoot ? " fb-root" : ""}`,
      role: "group",
      tabindex: "0",
      "data-node": "group",
      "data-op": group.op,
      "aria-label": isRoot ? "The filter" : "Group",
    });
    const op = h(
      "select",
      { class: "fb-op", "data-part": "op", "aria-label": "Combine the rules of this group" },
      GROUP_OPS.map(([value, label]) => h("option", { value, selected: group.op === value, text: label })),
    );
    op.addEventListener("change", () => {
      group.op = op.value;
      this.changed({ focus: { node: group, part: "op" } });
    });
    const head = h(
      "div",
      { class: "fb-group-head" },
      op,
      h("span", { class: "fb-group-hint muted small", text: isRoot ? "of these rules match" : "of these" }),
      h("span", { class: "toolbar-spacer" }),
      h("button", { type: "button", class: "button ghost small", "data-action": "add-rule", text: "+ Rule" }),
      h("button", { type: "button", class: "button ghost small", "data-action": "add-group", text: "+ Group" }),
      isRoot ? null : h("button", { type: "button", class: "icon-button fb-remove", "data-action": "remove", "aria-label": "Remove this group", title: "Remove this group (Delete)", text: "×" }),
    );
    const children = h("ol", { class: "fb-children" });
    for (const child of group.rules) {
      children.append(h("li", {}, isGroup(child) ? this.renderGroup(child) : this.renderRule(child)));
    }
    if (!group.rules.length) {
      children.append(
        h("li", { class: "fb-empty muted small" }, isRoot ? "No rules yet: every record matches. Add a rule (a) or a group (g)." : "An empty group: add a rule (a)."),
      );
    }
    element.append(head, h("div", { class: "fb-error", role: "alert", hidden: true }), children);
    this.elements.set(group, element);
    this.nodes.set(element, group);
    return element;
  }

  renderRule(rule) {
    const field = this.fields.get(rule.field);
    const element = h("div", { class: "fb-rule", tabindex: "0", "data-node": "rule", "aria-label": "Rule" });
    const fieldButton = h(
      "button",
      { type: "button", class: "fb-field", "data-part": "field", "data-action": "pick-field", "aria-haspopup": "listbox", title: rule.field || "" },
      field ? field.label : rule.field ? `Unknown field ${rule.field}` : "Choose a field…",
    );
    element.append(fieldButton);
    if (field) {
      const operator = h(
        "select",
        { class: "fb-operator", "data-part": "operator", "aria-label": `Operator for ${field.label}` },
        field.operators.map((op) =>
          h("option", { value: op, selected: op === rule.operator, text: this.config.operators?.[op]?.label ?? op }),
        ),
      );
      operator.addEventListener("change", () => this.setOperator(rule, operator.value));
      element.append(operator, this.renderValue(rule, field));
      element.setAttribute("aria-label", `Rule: ${field.label} ${this.config.operators?.[rule.operator]?.label ?? ""}`);
    }
    element.append(
      h("button", { type: "button", class: "icon-button fb-remove", "data-action": "remove", "aria-label": "Remove this rule", title: "Remove this rule (Delete)", text: "×" }),
      h("div", { class: "fb-error", role: "alert", hidden: true }),
    );
    this.elements.set(rule, element);
    this.nodes.set(element, rule);
    return element;
  }

  // -- value inputs, by the operator's shape and the field's type --

  renderValue(rule, field) {
    const wrapper = h("span", { class: "fb-value", "data-part": "value" });
    const shape = this.shape(rule.operator);
    const label = field.label;
    const set = (value) => {
      rule.value = value;
      this.changed({ structural: false });
    };
    if (shape === "none") return wrapper;
    if (shape === "days") {
      const input = this.scalarInput("number", rule.value, `Days for ${label}`, (v) => set(v));
      input.min = "1";
      input.step = "1";
      wrapper.append(input, h("span", { class: "muted small", text: "days" }));
    } else if (shape === "choice") {
      wrapper.append(this.choiceSelect(field.choices ?? [], rule.value, `Value of ${label}`, set, false));
    } else if (shape === "range") {
      const type = field.type === "date" ? "date" : "number";
      const pair = Array.isArray(rule.value) ? [...rule.value] : [null, null];
      const part = (i, name) => this.scalarInput(type, pair[i], `${name} for ${label}`, (v) => {
        pair[i] = v;
        set([...pair]);
      });
      wrapper.append(part(0, "From"), h("span", { class: "muted small", text: "and" }), part(1, "To"));
    } else if (shape === "list" || shape === "ids") {
      wrapper.append(this.chips(rule, field, shape));
    } else if (field.type === "enum") {
      wrapper.append(this.choiceSelect(field.choices ?? [], rule.value, `Value of ${label}`, set, true));
    } else if (field.type === "bool") {
      const select = h(
        "select",
        { "aria-label": `Value of ${label}` },
        h("option", { value: "true", selected: rule.value !== false, text: "yes" }),
        h("option", { value: "false", selected: rule.value === false, text: "no" }),
      );
      select.addEventListener("change", () => set(select.value === "true"));
      wrapper.append(select);
    } else {
      const type = { number: "number", date: "date", reference: "number" }[field.type] ?? "text";
      const input = this.scalarInput(type, rule.value, `Value of ${label}`, set);
      if (field.type === "reference") {
        input.min = "1";
        input.step = "1";
      } else if (type === "number") input.step = "any";
      wrapper.append(input);
    }
    return wrapper;
  }

  scalarInput(type, value, label, onValue) {
    const input = h("input", { type, "aria-label": label, autocomplete: "off", spellcheck: "false" });
    input.value = value ?? "";
    if (type === "text") input.placeholder = "value";
    input.addEventListener("input", () => {
      if (type !== "number") return onValue(input.value === "" ? null : input.value);
      if (input.value === "") return onValue(null);
      const n = Number(input.value);
      return onValue(Number.isFinite(n) ? n : input.value);
    });
    return input;
  }

  choiceSelect(choices, value, label, onValue, withBlank) {
    const select = h(
      "select",
      { "aria-label": label },
      withBlank ? h("option", { value: "", text: "— choose —" }) : null,
      choices.map((c) => h("option", { value: c, selected: c === value, text: c })),
    );
    select.addEventListener("change", () => onValue(select.value || null));
    return select;
  }

  // Chips: several values (is any of, has any of, in list). Text is typed and added with
  // Enter or a comma; enums, lists and segments are added from a select.
  chips(rule, field, shape) {
    const values = Array.isArray(rule.value) ? rule.value : [];
    const box = h("span", { class: "fb-chips" });
    // Only this rule's chips are drawn again: a full render on blur would replace the
    // button the pointer is about to click.
    const refresh = (focusSelector = null) => {
      rule.value = [...values];
      this.changed({ structural: false });
      const fresh = this.chips(rule, field, shape);
      box.replaceWith(fresh);
      if (focusSelector) fresh.querySelector(focusSelector)?.focus();
    };
    const names = this.pickable(field, shape);
    for (const [i, value] of values.entries()) {
      const text = names ? names.get(value) ?? `#${value}` : String(value);
      const remove = h("button", { type: "button", "aria-label": `Remove ${text}`, text: "×" });
      remove.addEventListener("click", (event) => {
        event.stopPropagation();
        values.splice(i, 1);
        refresh("input, select");
      });
      box.append(h("span", { class: "tag fb-chip", "data-value": String(value) }, text, remove));
    }
    if (names || field.type === "enum") {
      const options = names ? [...names.entries()] : (field.choices ?? []).map((c) => [c, c]);
      const what = shape === "ids" ? (field.references === "segment" ? "a segment" : "a list") : "a value";
      const select = h(
        "select",
        { class: "fb-chip-add", "aria-label": `Add ${what} to ${field.label}` },
        h("option", { value: "", text: options.length ? `add ${what}…` : `no ${what.slice(2)} to pick` }),
        options.filter(([v]) => !values.includes(v)).map(([v, text]) => h("option", { value: String(v), text })),
      );
      select.addEventListener("change", () => {
        if (!select.value) return;
        values.push(names ? Number(select.value) : select.value);
        refresh(".fb-chip-add");
      });
      box.append(select);
      return box;
    }
    const numeric = field.type === "reference";
    const input = h("input", {
      type: "text",
      class: "fb-chip-input",
      "aria-label": `Add a value to ${field.label}`,
      placeholder: values.length ? "add…" : numeric ? "ids, Enter adds" : "type, Enter adds",
      autocomplete: "off",
      spellcheck: "false",
    });
    const commit = () => {
      const parts = input.value.split(",").map((p) => p.trim()).filter(Boolean);
      input.value = "";
      let added = false;
      for (const part of parts) {
        const value = numeric && /^\d+$/.test(part) ? Number(part) : part;
        if (!values.includes(value)) {
          values.push(value);
          added = true;
        }
      }
      return added;
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();
        if (commit()) refresh(".fb-chip-input");
      } else if (event.key === "Backspace" && input.value === "" && values.length) {
        event.preventDefault();
        values.pop();
        refresh(".fb-chip-input");
      }
    });
    input.addEventListener("blur", () => {
      if (input.value.trim() && commit()) refresh();
    });
    box.append(input);
    return box;
  }

  // Lists or segments an in_list / in_segment rule may name: of the records the rule
  // tests (the contact's account for "Account in list").
  pickable(field, shape) {
    if (shape !== "ids") return null;
    const target = field.key.startsWith("account.") ? "account" : this.entity;
    const source = field.references === "segment" ? this.config.segments : this.config.lists;
    return new Map((source ?? []).filter((x) => x.entityType === target).map((x) => [x.id, x.name]));
  }

  commitChipInputs() {
    for (const input of this.treeEl.querySelectorAll(".fb-chip-input")) {
      if (input.value.trim()) input.dispatchEvent(new Event("blur"));
    }
  }

  // -- errors and incomplete rules at their rows --

  markRules() {
    const nodesByDepth = [...this.paths.entries()].sort((a, b) => b[1].length - a[1].length);
    const messages = new Map();
    const unplaced = [];
    for (const [key, message] of Object.entries(this.errors)) {
      const hit = nodesByDepth.find(([, path]) => key === path || key.startsWith(`${path}.`));
      if (!hit || (hit[0] === this.tree && key === "definition")) {
        unplaced.push(message);
        continue;
      }
      const suffix = key.slice(hit[1].length + 1);
      const part = suffix.split(/[.[]/)[0];
      if (!messages.has(hit[0])) messages.set(hit[0], []);
      messages.get(hit[0]).push({ part, message });
    }
    for (const [node, element] of this.elements) {
      const found = messages.get(node) ?? [];
      const box = element.querySelector(":scope > .fb-error");
      element.classList.toggle("fb-invalid", found.length > 0);
      element.querySelectorAll(":scope > [data-part], :scope > .fb-group-head > [data-part]").forEach((control) => {
        const bad = found.some((f) => f.part === control.dataset.part);
        const target = control.matches("input, select, button") ? control : control.querySelector("input, select");
        if (bad) target?.setAttribute("aria-invalid", "true");
        else target?.removeAttribute("aria-invalid");
      });
      const incomplete = isGroup(node) ? "" : this.missing(node);
      element.classList.toggle("fb-incomplete", !found.length && !!incomplete);
      const text = found.length
        ? found.map((f) => (PART_LABELS[f.part] ? `${PART_LABELS[f.part]} ${f.message}` : f.message)).join("; ")
        : incomplete
          ? `To count this rule, ${incomplete}.`
          : "";
      box.textContent = text;
      box.hidden = !text;
      box.setAttribute("role", found.length ? "alert" : "status");
    }
    let rootError = this.root.querySelector("[data-builder-root-error]");
    if (unplaced.length && !rootError) {
      rootError = h("p", { class: "field-error", role: "alert", "data-builder-root-error": true });
      this.treeEl.before(rootError);
    }
    if (rootError) {
      rootError.textContent = unplaced.join("; ");
      rootError.hidden = !unplaced.length;
    }
  }

  // -- the live count --

  firstIncomplete() {
    let found = null;
    this.walk((node) => {
      if (!found && !isGroup(node) && this.missing(node)) found = node;
    });
    return found;
  }

  scheduleCount(delay = DEBOUNCE_MS) {
    clearTimeout(this.timer);
    this.request?.abort();
    if (this.firstIncomplete()) {
      this.showState("incomplete", "Finish the marked rule to count.");
      return;
    }
    this.showState("counting", "counting…");
    this.timer = setTimeout(() => this.count(), delay);
  }

  async count() {
    const sequence = ++this.sequence;
    const controller = new AbortController();
    this.request = controller;
    let response;
    let body;
    try {
      response = await fetch(this.config.previewUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ entityType: this.entity, definition: this.tree }),
        credentials: "same-origin",
        signal: controller.signal,
      });
      body = await response.json().catch(() => null);
    } catch (error) {
      if (error.name === "AbortError") return;
      if (sequence === this.sequence) this.showState("failed", "Could not count: the server did not answer.");
      return;
    }
    if (sequence !== this.sequence) return; // a later edit is being counted
    if (response.ok && body && typeof body.count === "number") {
      this.showCount(body.count, body.sample ?? []);
      return;
    }
    const fields = body?.error?.fields;
    if ((response.status === 400 || response.status === 422) && fields && Object.keys(fields).length) {
      this.errors = fields;
      this.markRules();
      this.showState("invalid", "Fix the marked rules to count.");
      return;
    }
    const why = response.status === 403 ? "your role may not count audiences" : body?.error?.message || `HTTP ${response.status}`;
    this.showState("failed", `Could not count: ${why}.`);
  }

  showState(state, status) {
    this.countEl.dataset.state = state;
    this.countEl.querySelector("[data-count-status]").textContent = status;
    if (state !== "counting" && state !== "ready") {
      this.countEl.querySelector("[data-count-value]").textContent = "—";
      delete this.countEl.dataset.count;
      this.countEl.querySelector("[data-count-label]").textContent = `${this.entity}s match`;
      this.sampleEl.hidden = true;
    }
  }

  showCount(count, sample) {
    this.countEl.dataset.count = String(count);
    this.countEl.querySelector("[data-count-value]").textContent = count.toLocaleString("en-US");
    this.countEl.querySelector("[data-count-label]").textContent = `${plural(this.entity, count)} ${count === 1 ? "matches" : "match"}`;
    this.showState("ready", "");
    const list = this.sampleEl.querySelector("[data-sample-list]");
    list.replaceChildren(
      ...sample.map((r) =>
        h("li", {}, h("a", { href: r.href, target: "_blank", rel: "noopener", text: r.label }), r.detail ? h("span", { class: "muted small", text: ` ${r.detail}` }) : null),
      ),
    );
    this.sampleEl.hidden = sample.length === 0;
  }

  // -- the field picker: fields by category, searched as you type --

  openPicker(rule) {
    this.closePicker(false);
    const row = this.elements.get(rule);
    const button = row?.querySelector(".fb-field");
    if (!button) return;
    const id = `fb-fields-${++serial}`;
    const search = h("input", {
      type: "search",
      class: "fb-picker-search",
      placeholder: "Search fields…",
      role: "combobox",
      "aria-label": "Search fields",
      "aria-expanded": "true",
      "aria-autocomplete": "list",
      "aria-controls": id,
      autocomplete: "off",
      spellcheck: "false",
    });
    const list = h("ul", { class: "fb-options", role: "listbox", id, "aria-label": "Fields" });
    const panel = h("div", { class: "fb-picker", role: "dialog", "aria-label": "Choose a field" }, search, list);
    let options = [];
    let active = 0;
    const setActive = (i) => {
      active = Math.max(0, Math.min(options.length - 1, i));
      options.forEach((option, n) => {
        option.classList.toggle("active", n === active);
        option.setAttribute("aria-selected", String(n === active));
      });
      const current = options[active];
      if (current) {
        search.setAttribute("aria-activedescendant", current.id);
        current.scrollIntoView({ block: "nearest" });
      } else search.removeAttribute("aria-activedescendant");
    };
    const fill = () => {
      const terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      const items = [];
      let category = null;
      options = [];
      for (const field of this.fields.values()) {
        const haystack = `${field.label} ${field.key} ${field.categoryLabel} ${field.type}`.toLowerCase();
        if (!terms.every((t) => haystack.includes(t))) continue;
        if (field.categoryLabel !== category) {
          category = field.categoryLabel;
          items.push(h("li", { class: "fb-category", role: "presentation", text: category }));
        }
        const option = h(
          "li",
          { class: "fb-option", role: "option", id: `${id}-${options.length}`, "data-key": field.key, "aria-selected": "false" },
          h("span", { text: field.label }),
          h("span", { class: "fb-option-type muted small", text: field.type }),
        );
        options.push(option);
        items.push(option);
      }
      if (!options.length) items.push(h("li", { class: "fb-category muted", role: "presentation", text: "No field matches." }));
      list.replaceChildren(...items);
      const current = options.findIndex((o) => o.dataset.key === rule.field);
      setActive(terms.length || current < 0 ? 0 : current);
    };
    const pick = (option) => {
      if (!option) return;
      this.picker = null;
      this.setField(rule, option.dataset.key);
    };
    search.addEventListener("input", fill);
    search.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        setActive(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        event.preventDefault();
        pick(options[active]);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.closePicker(true);
      } else if (event.key === "Tab") {
        this.closePicker(false);
      }
    });
    list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the search box
    list.addEventListener("click", (event) => pick(event.target.closest?.(".fb-option")));
    panel.addEventListener("focusout", (event) => {
      if (!panel.contains(event.relatedTarget)) setTimeout(() => this.picker === panel && this.closePicker(false));
    });
    button.setAttribute("aria-expanded", "true");
    button.after(panel);
    this.picker = panel;
    fill();
    search.focus();
  }

  closePicker(focusRow) {
    const panel = this.picker;
    if (!panel) return;
    this.picker = null;
    const row = panel.closest("[data-node]");
    row?.querySelector(".fb-field")?.setAttribute("aria-expanded", "false");
    panel.remove();
    if (focusRow) row?.focus();
  }

  // -- focus and keys --

  focus(node, part = null) {
    const element = this.elements.get(node);
    if (!element) return;
    const target = part ? element.querySelector(`:scope [data-part="${part}"]`) : null;
    const control = target && (target.matches("input, select, button") ? target : target.querySelector("input, select, button"));
    (control ?? element).focus();
  }

  rows() {
    return [...this.treeEl.querySelectorAll("[data-node]")];
  }

  onClick(event) {
    const button = event.target.closest?.("[data-action]");
    if (!button || !this.treeEl.contains(button)) return;
    const node = this.nodes.get(button.closest("[data-node]"));
    if (!node) return;
    if (button.dataset.action !== "pick-field") this.act(button.dataset.action, node);
    else if (this.picker?.closest("[data-node]") === this.elements.get(node)) this.closePicker(false);
    else this.openPicker(node);
  }

  // What a button or a key does to a rule or group (the root group stays).
  act(action, node) {
    if (action === "add-rule") this.add("rule", node);
    else if (action === "add-group") this.add("group", node);
    else if (action === "remove" && node !== this.tree) this.remove(node);
  }

  onKeydown(event) {
    if (event.defaultPrevented || event.isComposing) return;
    const target = event.target;
    if (event.key === "Escape") {
      // From a field of a rule back to the rule, so that the builder's keys work again.
      const row = target.closest?.("[data-node]");
      if (row && row !== target && !this.picker?.contains(target)) {
        event.preventDefault();
        if (target.classList?.contains("fb-chip-input")) this.commitChipInputs();
        row.focus();
      }
      return;
    }
    if (event.key === "Enter" && target instanceof HTMLInputElement && !target.classList.contains("fb-picker-search")) {
      event.preventDefault(); // Enter in a rule's value counts now; it does not submit the form
      clearTimeout(this.timer);
      if (!this.firstIncomplete()) this.scheduleCount(0);
      return;
    }
    if (isTyping(target) || event.ctrlKey || event.metaKey || !target.matches?.("[data-node]")) return;
    const node = this.nodes.get(target);
    if (!node) return;
    const rows = this.rows();
    const at = rows.indexOf(target);
    switch (event.key) {
      case "a":
      case "g":
      case "Delete":
      case "Backspace":
        this.act(KEY_ACTIONS[event.key], node);
        break;
      case "o":
        this.cycleOp(isGroup(node) ? node : this.parents.get(node), node);
        break;
      case "ArrowDown":
      case "j":
        if (event.altKey) this.move(node, 1);
        else rows[Math.min(rows.length - 1, at + 1)]?.focus();
        break;
      case "ArrowUp":
      case "k":
        if (event.altKey) this.move(node, -1);
        else rows[Math.max(0, at - 1)]?.focus();
        break;
      case "ArrowLeft":
        this.elements.get(this.parents.get(node))?.focus();
        break;
      case "ArrowRight":
        if (isGroup(node) && node.rules.length) this.focus(node.rules[0]);
        break;
      case "Enter":
        if (isGroup(node)) this.focus(node, "op");
        else if (!node.field || !this.fields.has(node.field)) this.openPicker(node);
        else this.focus(node, "operator");
        break;
      default:
        return;
    }
    event.preventDefault();
  }
}

export function initFilterBuilders(root = document) {
  for (const element of root.querySelectorAll("[data-filter-builder]:not([data-ready])")) {
    new FilterBuilder(element);
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => initFilterBuilders(), { once: true });
} else {
  initFilterBuilders();
}
