// Form conveniences that every page gets without opting in.

let confirmBound = false;

export function initForms(root = document) {
  // After a failed submission the server re-renders the form with aria-invalid fields;
  // putting the caret in the first one saves a click and tells screen readers where to go.
  const scope = root instanceof Element || root instanceof Document ? root : document;
  const invalid = scope.querySelector?.('[aria-invalid="true"]');
  if (invalid && !invalid.closest("[hidden]") && !invalid.dataset.focusedOnce) {
    invalid.dataset.focusedOnce = "1";
    invalid.focus();
  }

  if (confirmBound) return;
  confirmBound = true;
  // Capture phase on the document runs before htmx's own submit handler on the form, so a
  // "Cancel" stops both a normal submission and an hx-post one. Bulk forms are skipped:
  // table.js asks there, with the number of selected records in the question.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || form.hasAttribute("data-bulk-form")) return;
      const message = event.submitter?.dataset.confirm || form.dataset.confirm;
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );
}
