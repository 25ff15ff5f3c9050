// Open311 clients: issue a key (shown once, here) and revoke one, through
// /api/v1/open311-clients. Names and keys reach the page only through textContent.
import { api } from "/static/console/api.js";

const form = document.getElementById("open311-issue");
const error = document.getElementById("open311-error");
const box = document.getElementById("open311-key");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const data = new FormData(form);
  try {
    const issued = await api("POST", "/api/v1/open311-clients", {
      name: String(data.get("name") || ""),
      requests_per_minute: Number(data.get("requests_per_minute")),
    });
    document.getElementById("open311-key-name").textContent = issued.client.name;
    document.getElementById("open311-key-value").textContent = issued.api_key;
    box.hidden = false;
    form.reset();
  } catch (problem) {
    error.textContent = problem.detail || problem.title || problem.message;
  }
});

for (const button of document.querySelectorAll("button[data-revoke]")) {
  button.addEventListener("click", async () => {
    if (!confirm(`${button.dataset.confirm}\n${button.dataset.name}`)) return;
    error.textContent = "";
    try {
      await api("POST", `/api/v1/open311-clients/${Number(button.dataset.revoke)}/revoke`);
      location.reload();
    } catch (problem) {
      error.textContent = problem.detail || problem.title || problem.message;
    }
  });
}
