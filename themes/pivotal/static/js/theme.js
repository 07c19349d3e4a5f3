// Light/dark switch. The inline script in base.jinja2 picks the theme before first paint
// (no flash of the wrong colours); this module only handles the toggle and keeps the
// choice across visits.

const STORAGE_KEY = "pivotal-theme";

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage can be disabled (privacy modes); the toggle still works per page
  }
}

function apply(theme, remember) {
  document.documentElement.dataset.theme = theme;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, theme);
    } catch {
      /* not remembered, still applied */
    }
  }
  const button = document.getElementById("theme-toggle");
  if (button) button.setAttribute("aria-pressed", String(theme === "dark"));
  // Canvas charts (chart.js) cannot read CSS variables by themselves; they listen for this.
  document.dispatchEvent(new CustomEvent("pivotal:themechange", { detail: { theme } }));
}

export function initTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button || button.dataset.themeReady) return;
  button.dataset.themeReady = "1";
  button.setAttribute("aria-pressed", String(document.documentElement.dataset.theme === "dark"));
  button.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    apply(next, true);
  });
  // Until the user picks one, follow the operating system when it switches (e.g. at dusk).
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  media?.addEventListener?.("change", (event) => {
    if (!stored()) apply(event.matches ? "dark" : "light", false);
  });
}
