// People and duties: appoint a person to a duty and end a duty through the assignments API.
import { api, t } from "/static/console/api.js";

const form = document.getElementById("appoint-form");

document.getElementById("gaps-only").addEventListener("change", (event) => {
  document.body.classList.toggle("gaps-only", event.target.checked);
});

for (const button of document.querySelectorAll("[data-end]")) {
  button.addEventListener("click", async () => {
    if (!confirm(t("End this duty from today?"))) return;
    try {
      await api("DELETE", `/api/v1/assignments/${button.dataset.end}`);
      location.reload();
    } catch (problem) {
      alert(problem.title || problem.message);
    }
  });
}

if (form) {
  const f = form.elements;
  const showFields = () => {
    for (const label of form.querySelectorAll("[data-for]")) label.hidden = label.dataset.for !== f.duty.value;
    // duties held at a township or at a grid: offer only the areas of the right level
    const township = ["dispatcher", "commander", "board_handler"].includes(f.duty.value);
    for (const option of f.area_id.options) option.hidden = (option.dataset.level === "township") !== township;
    if (f.area_id.selectedOptions[0]?.hidden) f.area_id.value = [...f.area_id.options].find((o) => !o.hidden)?.value ?? "";
  };
  f.duty.addEventListener("change", showFields);
  showFields();
  for (const button of document.querySelectorAll("[data-appoint]")) {
    button.addEventListener("click", () => {
      f.account_id.value = button.dataset.appoint;
      f.phone.value = button.dataset.name;
      f.phone.readOnly = true;
      f.duty.focus();
    });
  }
  f.phone.addEventListener("dblclick", () => { f.phone.readOnly = false; f.account_id.value = ""; f.phone.value = ""; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { duty: f.duty.value, area_id: Number(f.area_id.value), valid_from: f.valid_from.value || null };
    if (f.account_id.value) body.account_id = Number(f.account_id.value);
    else body.phone = f.phone.value;
    if (f.valid_to.value) body.valid_to = f.valid_to.value;
    if (f.duty.value === "grid_worker" && f.employment.value) body.employment = f.employment.value;
    if (f.duty.value === "board_handler") body.board = f.board.value;
    try {
      await api("POST", "/api/v1/assignments", body);
      location.reload();
    } catch (problem) {
      form.querySelector("[data-error]").textContent = problem.errors?.[0]?.message || problem.title || problem.message;
    }
  });
}
