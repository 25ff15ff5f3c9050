// Evacuations: confirm a proposal with one click; start one over areas or risk points.
import { api, t } from "/static/console/api.js";

const say = (box, problem) => {
  box.textContent = problem.errors?.[0]?.message || problem.detail || problem.title || problem.message;
};

for (const button of document.querySelectorAll("[data-confirm]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    const id = button.dataset.confirm;
    try {
      await api("POST", `/api/v1/evacuations/${id}/confirm`);
      location.href = `/console/evacuations/${id}`;
    } catch (problem) {
      button.disabled = false;
      say(button.closest("[data-evacuation]").querySelector("[data-error]"), problem);
    }
  });
}

const form = document.getElementById("start-form");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = form.elements;
  const ids = (select) => [...select.selectedOptions].map((o) => Number(o.value)).filter((n) => n > 0);
  const body = { area_ids: ids(f.area_ids), risk_point_ids: ids(f.risk_point_ids), note: f.note.value.trim() };
  const box = form.querySelector("[data-error]");
  if (!body.area_ids.length && !body.risk_point_ids.length) {
    box.textContent = t("Choose at least one area or risk point.");
    f.area_ids.focus();
    return;
  }
  box.textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const started = await api("POST", "/api/v1/evacuations", body);
    location.href = `/console/evacuations/${started.id}`;
  } catch (problem) {
    button.disabled = false;
    say(box, problem);
  }
});
