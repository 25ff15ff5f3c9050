// QR codes: issue, reissue, revoke and issue all missing through /api/v1/qr-codes, then show the
// page again with what was done (the names of places come from data-* and reach only confirm()
// and textContent, never markup).
import { api, t } from "/static/console/api.js";
import { el } from "/static/console/dom.js";

const status = document.getElementById("qr-status");
const error = document.getElementById("qr-error");
const DONE = "qr-done";

const said = sessionStorage.getItem(DONE);
if (said) {
  status.textContent = said;
  sessionStorage.removeItem(DONE);
}

const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
const buttons = () => document.querySelectorAll("button[data-issue], button[data-reissue], button[data-revoke], #issue-all");

async function act(run, done) {
  error.textContent = "";
  status.textContent = t("Working…");
  document.body.setAttribute("aria-busy", "true");
  const disabled = [...buttons()].filter((b) => !b.disabled);
  for (const b of disabled) b.disabled = true;
  try {
    const answer = await run();
    sessionStorage.setItem(DONE, done(answer));
    location.reload();
  } catch (problem) {
    status.textContent = "";
    error.textContent = problem.title || problem.message || t("Something went wrong. Try again.");
    document.body.removeAttribute("aria-busy");
    for (const b of disabled) b.disabled = false;
  }
}

const issue = (button) =>
  api("POST", "/api/v1/qr-codes", { target: button.dataset.target, target_id: Number(button.dataset.id) });

for (const button of document.querySelectorAll("button[data-issue]")) {
  button.addEventListener("click", () => act(() => issue(button), (code) => fill(t("A code was issued for {place}."), { place: code.name })));
}

for (const button of document.querySelectorAll("button[data-reissue]")) {
  button.addEventListener("click", () => {
    const question = t("Issue a new code for {place}? The code printed now stops working at once.");
    if (!confirm(fill(question, { place: button.dataset.name }))) return;
    act(() => issue(button), (code) => fill(t("A new code was issued for {place}. Print it and replace the old one."), { place: code.name }));
  });
}

for (const button of document.querySelectorAll("button[data-revoke]")) {
  button.addEventListener("click", () => {
    const question = t("Revoke the code of {place}? Scanning it will show that it was withdrawn.");
    if (!confirm(fill(question, { place: button.dataset.name }))) return;
    act(
      () => api("DELETE", `/api/v1/qr-codes/${button.dataset.revoke}`),
      (code) => fill(t("The code of {place} was revoked."), { place: code.name }),
    );
  });
}

const all = document.getElementById("issue-all");
if (all) {
  all.addEventListener("click", () =>
    act(
      () => api("POST", "/api/v1/qr-codes/issue-all", { area_id: Number(all.dataset.area) }),
      (answer) => fill(t("{issued} codes issued; {live} places have a working code."), answer),
    ),
  );
}

// The sheet takes a moment to draw, and a refusal (no font on the server) must be read, not
// saved as a file: fetched here, then handed to the browser as a download.
const sheet = document.getElementById("sheet");
if (sheet) {
  sheet.addEventListener("click", async (event) => {
    event.preventDefault();
    error.textContent = "";
    status.textContent = t("Working…");
    try {
      const answer = await fetch(sheet.href, {
        credentials: "same-origin",
        headers: { "Accept-Language": document.documentElement.lang || "zh-CN" },
      });
      if (answer.status === 401) {
        location.reload(); // the console renews the session on a page load
        return;
      }
      if (!answer.ok) {
        const problem = await answer.json().catch(() => ({}));
        throw new Error(problem.title || t("Something went wrong. Try again."));
      }
      const blob = await answer.blob();
      const link = el("a", { href: URL.createObjectURL(blob), download: sheet.getAttribute("download") });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      status.textContent = "";
    } catch (problem) {
      status.textContent = "";
      error.textContent = problem.message;
    }
  });
}
