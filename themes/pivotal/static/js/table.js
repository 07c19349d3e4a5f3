// The data table's selection, which outlives a page of results: pick rows on page 1, page
// on, pick more, or "select all N matching" and then un-tick a few. The state lives in
// sessionStorage (per tab, gone when the tab closes) under the table's data-scope, which
// the server changes whenever the query changes, so a new filter starts a new selection.
//
// DOM contract: pivotal_core/web/templates/web/table.jinja2 (its header comment).

import { setCursor } from "./keyboard.js";

const PREFIX = "pivotal-selection:";
const PENDING_KEY = "pivotal-selection-pending"; // a bulk action was submitted; clear on success
const PENDING_WINDOW_MS = 30_000; // how long a submitted bulk form may take to navigate
const renderers = new WeakMap(); // table element -> its render(), for content htmx swaps in

// --- stored state ----------------------------------------------------------------------

function emptyState() {
  return { allMatching: false, ids: [], excluded: [] };
}

function load(scope) {
  try {
    const raw = JSON.parse(sessionStorage.getItem(PREFIX + scope));
    if (raw && typeof raw === "object") {
      return {
        allMatching: raw.allMatching === true,
        ids: Array.isArray(raw.ids) ? raw.ids.map(String) : [],
        excluded: Array.isArray(raw.excluded) ? raw.excluded.map(String) : [],
      };
    }
  } catch {
    /* corrupt or unavailable storage: start empty */
  }
  return emptyState();
}

function save(scope, state) {
  try {
    if (!state.allMatching && state.ids.length === 0) sessionStorage.removeItem(PREFIX + scope);
    else sessionStorage.setItem(PREFIX + scope, JSON.stringify(state));
  } catch {
    /* selection then lasts only for this page */
  }
}

// Another query on the same table means another selection: drop the old one so it does
// not come back when the user returns to that query later.
function forgetOtherScopes(tableName, scope) {
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const key = sessionStorage.key(i);
      if (key?.startsWith(`${PREFIX}${tableName}|`) && key !== PREFIX + scope) sessionStorage.removeItem(key);
    }
  } catch {
    /* nothing stored, nothing to forget */
  }
}

function isSelected(state, id) {
  return state.allMatching ? !state.excluded.includes(id) : state.ids.includes(id);
}

function setSelected(state, id, on) {
  const list = state.allMatching ? state.excluded : state.ids;
  const want = state.allMatching ? !on : on; // in "all matching" mode the list holds exclusions
  const at = list.indexOf(id);
  if (want && at === -1) list.push(id);
  if (!want && at !== -1) list.splice(at, 1);
}

function countOf(state, total) {
  return state.allMatching ? Math.max(0, total - state.excluded.length) : state.ids.length;
}

// A bulk action submitted from the previous page: its outcome is only known now. A
// success (no error flash, no error page) clears the selection; a failure keeps it, so
// the user can fix the problem and try again.
function settlePendingAction() {
  let scope;
  try {
    scope = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
  } catch {
    return;
  }
  if (!scope) return;
  const failed = document.querySelector(".flash-error, .error-page");
  if (!failed) save(scope, emptyState());
}

// --- one table -------------------------------------------------------------------------

function initTable(table) {
  if (renderers.has(table)) return;

  const scope = table.dataset.scope || table.dataset.table || location.pathname;
  const total = Number.parseInt(table.dataset.total, 10) || 0;
  forgetOtherScopes(table.dataset.table, scope);
  let state = load(scope);
  let lastClicked = null; // for shift-click ranges

  const rowBoxes = () => [...table.querySelectorAll("input[data-select-row]")];
  const pageBox = table.querySelector("[data-select-page]");
  const bar = table.querySelector("[data-bulk-bar]");
  const allMatchingButton = table.querySelector("[data-select-all-matching]");

  function render() {
    const boxes = rowBoxes();
    let on = 0;
    for (const box of boxes) {
      box.checked = isSelected(state, box.value);
      box.closest("tr")?.classList.toggle("selected", box.checked);
      if (box.checked) on++;
    }
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && on === boxes.length;
      pageBox.indeterminate = on > 0 && on < boxes.length;
    }
    let count = countOf(state, total);
    if (state.allMatching && count === 0) {
      state = emptyState(); // every match excluded one by one: nothing is selected
      count = 0;
    }
    if (bar) {
      bar.hidden = count === 0;
      bar.querySelectorAll("[data-selected-count]").forEach((el) => {
        el.textContent = count.toLocaleString();
      });
    }
    if (allMatchingButton) allMatchingButton.hidden = state.allMatching || count >= total;
    table.classList.toggle("has-selection", count > 0);
    save(scope, state);
  }

  table.addEventListener("change", (event) => {
    const box = event.target;
    if (box.matches?.("input[data-select-row]")) {
      setSelected(state, box.value, box.checked);
      render();
    } else if (box.matches?.("[data-select-page]")) {
      for (const row of rowBoxes()) setSelected(state, row.value, box.checked);
      render();
    }
  });

  table.addEventListener("click", (event) => {
    const target = event.target;
    const box = target.closest?.("input[data-select-row]");
    if (box) {
      // Shift-click ticks (or unticks) everything between this box and the last one.
      const boxes = rowBoxes();
      if (event.shiftKey && lastClicked && boxes.includes(lastClicked)) {
        const [a, b] = [boxes.indexOf(lastClicked), boxes.indexOf(box)].sort((x, y) => x - y);
        for (const other of boxes.slice(a, b + 1)) setSelected(state, other.value, box.checked);
        render();
      }
      lastClicked = box;
      return;
    }
    if (target.closest?.("[data-select-all-matching]")) {
      state = { allMatching: true, ids: [], excluded: [] };
      render();
      return;
    }
    if (target.closest?.("[data-clear-selection]")) {
      state = emptyState();
      render();
      return;
    }
    if (target.closest?.("[data-density-toggle]")) {
      toggleDensity(table, target.closest("[data-density-toggle]"));
      return;
    }
    // A click on a row's empty space puts the keyboard cursor there, so j/k continue
    // from where the mouse was.
    const row = target.closest?.("tbody tr[data-id]");
    if (row && !target.closest("a, button, input, label, select")) setCursor(row);
  });

  // Capture, so the ids are filled in before htmx (if the form uses hx-post) reads them.
  table.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!form.matches?.("form[data-bulk-form]")) return;
      const count = countOf(state, total);
      const message = form.dataset.confirm;
      if (message && !window.confirm(message.replaceAll("{count}", count.toLocaleString()))) {
        event.preventDefault();
        event.stopPropagation();
        return;
      }
      const fill = (name, value) => {
        if (form.elements[name]) form.elements[name].value = value;
      };
      fill("ids", state.allMatching ? "" : state.ids.join(","));
      fill("all_matching", state.allMatching ? "1" : "");
      fill("exclude", state.allMatching ? state.excluded.join(",") : "");
      // A file comes back and the page stays: the selection is still wanted.
      if (form.hasAttribute("data-download") || (form.target && form.target !== "_self")) return;
      if (form.hasAttribute("hx-post") || form.hasAttribute("data-hx-post")) {
        form.addEventListener(
          "htmx:afterRequest",
          (done) => {
            const disposition = done.detail.xhr?.getResponseHeader("Content-Disposition") || "";
            if (done.detail.successful && !/attachment/i.test(disposition)) {
              state = emptyState();
              render();
            }
          },
          { once: true },
        );
        return;
      }
      // A normal submission: only a page that actually unloads was a navigation. A
      // download never unloads the page, so its selection is kept; the listener expires
      // so that a later, unrelated navigation does not count as the action's success.
      // (Mark export forms with data-download to skip this guesswork.)
      const onHide = () => {
        try {
          sessionStorage.setItem(PENDING_KEY, scope);
        } catch {
          /* the selection then survives a successful action; harmless */
        }
      };
      window.addEventListener("pagehide", onHide, { once: true });
      setTimeout(() => window.removeEventListener("pagehide", onHide), PENDING_WINDOW_MS);
    },
    true,
  );

  renderers.set(table, render);
  render();
}

// New rows inside a table that is already set up (htmx refreshed its body): tick the
// stored selection again and put the keyboard cursor back on the same record.
function refreshTable(table) {
  renderers.get(table)?.();
  const id = table.dataset.cursorId;
  if (id && !table.querySelector("tbody tr.cursor")) {
    table.querySelector(`tbody tr[data-id="${CSS.escape(id)}"]`)?.classList.add("cursor");
  }
}

// --- density ---------------------------------------------------------------------------

// Instant feedback in the page, then remembered server-side (the user's table
// preferences) without a reload; the server answers 204 to htmx-style requests.
function toggleDensity(table, button) {
  const compact = !table.classList.contains("density-compact");
  table.classList.toggle("density-compact", compact);
  table.classList.toggle("density-comfortable", !compact);
  button.setAttribute("aria-pressed", String(compact));
  const value = compact ? "compact" : "comfortable";
  const form = table.querySelector("details.column-chooser form") || document.querySelector("details.column-chooser form");
  if (!form) return;
  const select = form.querySelector('select[name="density"]');
  if (select) select.value = value; // keep the column chooser's "Save" consistent
  const body = new FormData();
  body.append("density", value);
  fetch(form.action, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: {
      "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]')?.content ?? "",
      "HX-Request": "true",
    },
  }).catch(() => {
    /* offline or signed out: the change still applies to this page */
  });
}

// --- entry -----------------------------------------------------------------------------

let settled = false;

export function initTables(root = document) {
  if (!settled) {
    settled = true;
    settlePendingAction();
  }
  const host = root instanceof Element ? root.parentElement?.closest(".data-table[data-table]") : null;
  if (host && renderers.has(host)) refreshTable(host);
  const tables = [];
  if (root instanceof Element && root.matches(".data-table[data-table]")) tables.push(root);
  root.querySelectorAll?.(".data-table[data-table]").forEach((t) => tables.push(t));
  for (const table of tables) {
    const button = table.querySelector("[data-density-toggle]");
    button?.setAttribute("aria-pressed", String(table.classList.contains("density-compact")));
    initTable(table);
  }
}
