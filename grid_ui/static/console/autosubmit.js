// Filters that apply as soon as they change (area pickers, the day, the callout shown): the
// form submits itself. Here rather than in onchange="…" because the pages' Content-Security-Policy
// allows no inline script or event handler.
for (const field of document.querySelectorAll("[data-autosubmit]")) {
  field.addEventListener("change", () => field.form?.submit());
}
