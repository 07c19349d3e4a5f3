// Keyboard-first navigation (DESIGN.md §10). Single-key shortcuts are only safe when the
// user is not typing, so everything except Esc is ignored inside text fields and while
// Ctrl/Alt/Meta is held (those combinations belong to the browser and the OS).

import { closeSearch } from "./search.js";

const SEQUENCE_MS = 1500; // how long "g" waits for its letter
const TEXT_INPUT = /^(text|search|email|password|number|tel|url|date|datetime-local|month|week|time)$/;

let pendingG = null; // timer id while a "g" is waiting for its letter

export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  // A focused checkbox or button is not typing: after ticking a row with the mouse, j/k
  // and x should still work.
  return target instanceof HTMLInputElement && TEXT_INPUT.test(target.type || "text");
}

function isInteractive(target) {
  return target instanceof Element && !!target.closest("a[href], button, summary, input, select, textarea, [contenteditable]");
}

function openDialog() {
  return document.querySelector("dialog[open]");
}

// --- g + letter ------------------------------------------------------------------------

function cancelPending() {
  clearTimeout(pendingG);
  pendingG = null;
  document.documentElement.classList.remove("kbd-pending");
}

function startPending() {
  cancelPending();
  document.documentElement.classList.add("kbd-pending");
  pendingG = setTimeout(cancelPending, SEQUENCE_MS);
}

function jump(letter) {
  const link = document.querySelector(`a[data-shortcut="g ${CSS.escape(letter)}"]`);
  // click() rather than location.href, so hx-boost or other link handlers still apply.
  if (link) link.click();
}

// --- table row cursor ------------------------------------------------------------------

function tableRows() {
  const table = document.querySelector(".data-table");
  return table ? [...table.querySelectorAll("tbody tr[data-id]")] : [];
}

export function setCursor(row) {
  document.querySelectorAll(".data-table tr.cursor").forEach((r) => r !== row && r.classList.remove("cursor"));
  // Remembered on the table, so table.js can put the cursor back when htmx replaces the
  // rows (the jobs list refreshes its body every second).
  document.querySelectorAll(".data-table[data-cursor-id]").forEach((t) => delete t.dataset.cursorId);
  if (!row) return;
  row.classList.add("cursor");
  const table = row.closest(".data-table");
  if (table && row.dataset.id) table.dataset.cursorId = row.dataset.id;
  row.scrollIntoView({ block: "nearest" });
}

function moveCursor(step) {
  const rows = tableRows();
  if (!rows.length) return false;
  const index = rows.findIndex((r) => r.classList.contains("cursor"));
  const next = index === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
  setCursor(rows[next]);
  return true;
}

function cursorRow() {
  return document.querySelector(".data-table tbody tr.cursor");
}

// --- menus -----------------------------------------------------------------------------

function openMenus() {
  return [...document.querySelectorAll("details[open]")].filter(
    (d) => d.matches(".user-menu, .column-chooser, .dropdown") || d.querySelector(":scope > .menu"),
  );
}

function closeMenus(except = null) {
  let closed = false;
  for (const menu of openMenus()) {
    if (menu === except || menu.contains(except)) continue;
    const hadFocus = menu.contains(document.activeElement);
    menu.open = false;
    if (hadFocus) menu.querySelector("summary")?.focus();
    closed = true;
  }
  return closed;
}

// --- Esc -------------------------------------------------------------------------------

// One thing per press, innermost first, like peeling layers off.
function escape(event) {
  cancelPending();
  const dialog = openDialog();
  if (dialog) {
    event.preventDefault();
    dialog.close();
    return;
  }
  if (closeMenus()) return;
  const search = document.getElementById("global-search");
  if (search && (document.activeElement === search || search.value)) {
    closeSearch();
    return;
  }
  if (isTyping(event.target)) {
    event.target.blur(); // leave a filter box so single-key shortcuts work again
    return;
  }
  setCursor(null);
}

function onKeydown(event) {
  if (event.defaultPrevented || event.isComposing) return;
  if (event.key === "Escape") {
    escape(event);
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  // With a modal open, the page behind it must not react.
  if (openDialog()) return;

  if (pendingG) {
    cancelPending();
    if (/^[a-z]$/.test(event.key)) {
      event.preventDefault();
      jump(event.key);
    }
    return; // the key after "g" is consumed either way: "g j" must not also move the cursor
  }

  switch (event.key) {
    case "/": {
      const search = document.getElementById("global-search");
      if (!search) return;
      event.preventDefault(); // also keeps Firefox's quick-find closed
      search.focus();
      search.select();
      break;
    }
    case "?": {
      const help = document.getElementById("shortcuts");
      if (!help?.showModal) return;
      event.preventDefault();
      help.showModal();
      break;
    }
    case "g":
      if (event.shiftKey) return;
      event.preventDefault();
      startPending();
      break;
    case "j":
    case "k":
      if (moveCursor(event.key === "j" ? 1 : -1)) event.preventDefault();
      break;
    case "x": {
      const box = cursorRow()?.querySelector("input[data-select-row]");
      if (!box) return;
      event.preventDefault();
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      break;
    }
    case "Enter": {
      // A focused link or button keeps its own Enter.
      const href = cursorRow()?.dataset.href;
      if (!href || isInteractive(event.target)) return;
      event.preventDefault();
      window.location.assign(href);
      break;
    }
  }
}

let ready = false;

export function initKeyboard() {
  if (ready) return;
  ready = true;
  document.addEventListener("keydown", onKeydown);

  document.addEventListener("click", (event) => {
    const opener = event.target.closest?.("[data-open-shortcuts]");
    if (opener) {
      document.getElementById("shortcuts")?.showModal?.();
      return;
    }
    // A click on a modal's backdrop lands on the <dialog> itself: treat it as "close".
    if (event.target instanceof HTMLDialogElement && event.target.open) {
      const box = event.target.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) event.target.close();
    }
    // Native <details> menus stay open until their summary is clicked again; close them
    // on any click elsewhere, as popovers do.
    closeMenus(event.target.closest?.("details"));
  });

  // Opening one menu closes the others ("toggle" does not bubble, hence capture).
  document.addEventListener(
    "toggle",
    (event) => {
      if (event.target instanceof HTMLDetailsElement && event.target.open) closeMenus(event.target);
    },
    true,
  );
}
