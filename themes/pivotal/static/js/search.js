// The top bar's live search. htmx fetches the results (hx-get on #global-search into
// #search-results); this module makes the dropdown behave like a combobox: arrow keys,
// Enter, Escape, and hiding when there is nothing to show.

let input;
let results;
let combobox;
let hideTimer;

function items() {
  return results ? [...results.querySelectorAll("a.search-item")] : [];
}

function activeItem() {
  return results?.querySelector("a.search-item.active") ?? null;
}

function setActive(item, { scroll = true } = {}) {
  for (const other of items()) {
    other.classList.toggle("active", other === item);
    other.setAttribute("aria-selected", String(other === item));
  }
  if (item) {
    input.setAttribute("aria-activedescendant", item.id);
    if (scroll) item.scrollIntoView({ block: "nearest" });
  } else {
    input.removeAttribute("aria-activedescendant");
  }
}

function show(open) {
  const visible = open && input.value.trim() !== "" && results.children.length > 0;
  results.hidden = !visible;
  combobox?.setAttribute("aria-expanded", String(visible));
}

export function closeSearch({ blur = true } = {}) {
  if (!input) return;
  clearTimeout(hideTimer);
  input.value = "";
  results.replaceChildren();
  setActive(null);
  show(false);
  if (blur) input.blur();
}

function onKeydown(event) {
  const list = items();
  const current = activeItem();
  const index = current ? list.indexOf(current) : -1;
  switch (event.key) {
    case "ArrowDown":
    case "ArrowUp": {
      if (!list.length) return;
      event.preventDefault();
      show(true);
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive(list[(index + step + list.length) % list.length]);
      break;
    }
    case "Enter":
      // With no result highlighted, Enter keeps its meaning for htmx (the "search" event).
      if (current && !results.hidden) {
        event.preventDefault();
        current.click();
      }
      break;
    case "Escape":
      event.preventDefault();
      event.stopPropagation(); // handled here; keyboard.js need not close anything else
      closeSearch();
      break;
  }
}

function afterResults() {
  // Ids let the input point at the highlighted option (aria-activedescendant), so screen
  // readers announce it although focus stays in the input.
  items().forEach((item, n) => {
    item.id ||= `search-option-${n}`;
  });
  // The first hit is pre-selected: type, then Enter, is the fastest way to a record.
  setActive(items()[0] ?? null, { scroll: false });
  show(document.activeElement === input);
}

export function initSearch() {
  input = document.getElementById("global-search");
  results = document.getElementById("search-results");
  if (!input || !results || input.dataset.searchReady) return;
  input.dataset.searchReady = "1";
  combobox = input.closest('[role="combobox"]');
  show(false);

  input.addEventListener("keydown", onKeydown);
  input.addEventListener("input", () => {
    if (input.value.trim() === "") {
      results.replaceChildren(); // a slow answer to an older query must not reappear
      setActive(null);
    }
    show(true);
  });
  input.addEventListener("focus", () => show(true));
  // Delay so a click on a result lands before the list disappears.
  input.addEventListener("blur", () => {
    hideTimer = setTimeout(() => show(false), 150);
  });
  // Keep focus in the input while clicking a result, so the blur delay rarely matters.
  results.addEventListener("mousedown", (event) => event.preventDefault());
  results.addEventListener("mousemove", (event) => {
    const item = event.target.closest?.("a.search-item");
    if (item && !item.classList.contains("active")) setActive(item, { scroll: false });
  });
  results.addEventListener("htmx:afterSwap", afterResults);
  // A request fired before the box was cleared can still answer afterwards.
  results.addEventListener("htmx:beforeSwap", (event) => {
    if (input.value.trim() === "") event.detail.shouldSwap = false;
  });
}
