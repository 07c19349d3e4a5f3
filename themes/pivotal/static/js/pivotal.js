// Entry point of the staff UI's scripts (loaded as <script type="module">, no build step).
//
// Two kinds of set-up:
//  - global listeners (keyboard, search box, theme toggle) are attached once per page,
//    because the shell they serve is never replaced by htmx;
//  - content enhancements (tables, forms) run again on whatever htmx swaps in, because a
//    swapped-in table or form is new DOM that has never been initialised. They are
//    idempotent, so htmx:load and htmx:afterSwap may both report the same fragment.

import { initTheme } from "./theme.js";
import { initKeyboard } from "./keyboard.js";
import { initSearch } from "./search.js";
import { initTables } from "./table.js";
import { initForms } from "./forms.js";

function enhance(root) {
  initTables(root);
  initForms(root);
}

function boot() {
  initTheme();
  initKeyboard();
  initSearch();
  enhance(document);
  document.body.addEventListener("htmx:load", (event) => enhance(event.detail?.elt ?? event.target));
  document.body.addEventListener("htmx:afterSwap", (event) => enhance(event.detail?.target ?? event.target));
}

// Module scripts are deferred, so the DOM is usually parsed already; do not wait for an
// event that may have fired.
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", boot, { once: true });
} else {
  boot();
}
