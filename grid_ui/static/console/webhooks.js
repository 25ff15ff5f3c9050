// The webhooks page: register, pause, resume, test and delete through /api/v1/webhooks.
// The secret of a new subscriber is shown once, as text.

import { api, t } from "./api.js";

const form = document.getElementById("webhook-form");
const secret = document.getElementById("webhook-secret");
const error = document.getElementById("webhook-error");

function fail(problem) {
  error.textContent = problem.message;  // the detail, in the page's language
  error.hidden = false;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  try {
    const made = await api("POST", "/api/v1/webhooks", {
      name: data.get("name"),
      url: data.get("url"),
      kinds: data.getAll("kinds"),
    });
    const code = document.createElement("code");
    code.textContent = made.secret;
    secret.replaceChildren(`${t("Secret (shown once, copy it now):")} `, code);
    secret.hidden = false;
    form.reset();
    const link = document.createElement("a");
    link.href = "/console/webhooks";
    link.textContent = t("Show the list");
    secret.append(" ", link);
  } catch (problem) {
    fail(problem);
  }
});

document.querySelector('[data-testid="webhooks-table"]')?.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-act]");
  if (!button) return;
  const id = button.closest("tr").dataset.webhook;
  const act = button.dataset.act;
  if (act === "delete" && !confirm(t("Delete this subscriber and its log?"))) return;
  try {
    if (act === "delete") await api("DELETE", `/api/v1/webhooks/${id}`);
    else await api("POST", `/api/v1/webhooks/${id}/${act}`);
    location.reload();
  } catch (problem) {
    fail(problem);
  }
});
