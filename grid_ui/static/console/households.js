// Threatened households: the register/change form (households API), retiring, and the ledger
// import with its progress, counts or the full table of problems. Text from the server and
// from users reaches the page only as text (dom.js `el`).
import { api, t, Problem } from "/static/console/api.js";
import { el } from "/static/console/dom.js";

const dialog = document.getElementById("household-dialog");
const form = document.getElementById("household-form");
const known = JSON.parse(document.getElementById("households-data")?.textContent || "{}");
const COUNTS = ["elderly_alone", "disabled", "children", "pregnant"];
const OPTIONAL_IDS = ["shelter_id", "risk_point_id"];
let editing = null;

function clearErrors() {
  form.querySelector("[data-error]").textContent = "";
  for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

function markField(name, message) {
  const span = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
  if (!span) return false;
  span.textContent = span.textContent ? `${span.textContent}; ${message}` : message;
  form.elements[name]?.setAttribute("aria-invalid", "true");
  return true;
}

function openForm(household) {
  editing = household;
  form.reset();
  clearErrors();
  const title = document.getElementById("household-title");
  title.textContent = household ? title.dataset.editTitle : title.dataset.newTitle;
  const f = form.elements;
  if (household) {
    f.grid_id.value = String(household.grid.id);
    f.address.value = household.address;
    f.head_name.value = household.head_name;
    f.head_phone.value = household.head_phone;
    f.people.value = String(household.people);
    for (const name of COUNTS) f[name].value = String(household[name]);
    f.helper_id.value = String(household.helper.id);
    if (f.helper_id.value !== String(household.helper.id)) {
      f.helper_id.append(el("option", { value: String(household.helper.id) }, household.helper.name));
      f.helper_id.value = String(household.helper.id);
    }
    f.shelter_id.value = household.shelter ? String(household.shelter.id) : "";
    f.risk_point_id.value = household.risk_point ? String(household.risk_point.id) : "";
    f.watch_group.value = household.watch_group;
    f.note.value = household.note;
  }
  dialog.showModal();
  f.grid_id.focus();
}

function body() {
  const f = form.elements;
  const number = (value) => (value.trim() === "" ? null : Number(value));
  const data = {
    grid_id: number(f.grid_id.value),
    address: f.address.value,
    head_name: f.head_name.value,
    head_phone: f.head_phone.value,
    people: number(f.people.value),
    helper_id: number(f.helper_id.value),
    watch_group: f.watch_group.value,
    note: f.note.value,
  };
  for (const name of COUNTS) data[name] = number(f[name].value) ?? 0;
  for (const name of OPTIONAL_IDS) {
    const value = number(f[name].value);
    if (value !== null || editing) data[name] = value; // null clears it on a change
  }
  return data;
}

if (form) {
  for (const button of document.querySelectorAll("[data-new]")) button.addEventListener("click", () => openForm(null));
  for (const button of document.querySelectorAll("[data-edit]")) {
    button.addEventListener("click", () => openForm(known[button.dataset.edit]));
  }
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    try {
      if (editing) await api("PATCH", `/api/v1/households/${editing.id}`, body());
      else await api("POST", "/api/v1/households", body());
      location.reload();
    } catch (problem) {
      const general = [];
      for (const item of problem.errors || []) {
        // schema messages are msgspec's English: a required field left blank says so plainly
        const blank = form.elements[item.field]?.required && form.elements[item.field].value.trim() === "";
        const message = blank && problem.code === "validation_failed" ? t("required") : item.message;
        if (!markField(item.field, message)) general.push(message);
      }
      if (problem.code === "validation_failed") {
        // the API names the first problem it meets; the other required fields left blank are
        // flagged at once, so the form is not fixed one field per round trip
        for (const field of form.querySelectorAll("[required]")) {
          const span = form.querySelector(`.field-error[data-for="${CSS.escape(field.name)}"]`);
          if (field.value.trim() === "" && span && !span.textContent) markField(field.name, t("required"));
        }
      }
      const detail = problem.detail && problem.detail !== problem.title ? `: ${problem.detail}` : "";
      form.querySelector("[data-error]").textContent = [`${problem.title || problem.message}${detail}`, ...general].join(" · ");
      form.querySelector("[aria-invalid]")?.focus();
    }
  });
}

for (const button of document.querySelectorAll("[data-retire]")) {
  button.addEventListener("click", async () => {
    const household = known[button.dataset.retire];
    const question = t("Retire the household at {address}? It is no longer listed or moved in an evacuation.");
    if (!confirm(question.replace("{address}", household?.address ?? ""))) return;
    try {
      await api("DELETE", `/api/v1/households/${button.dataset.retire}`);
      location.reload();
    } catch (problem) {
      alert(problem.title || problem.message);
    }
  });
}

// --- the ledger import: XMLHttpRequest, because fetch() reports no upload progress ---------

const importForm = document.getElementById("import-form");
const result = document.getElementById("import-result");

function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/households/import");
    request.setRequestHeader("X-CSRF-Token", document.querySelector('meta[name="csrf-token"]')?.content ?? "");
    request.setRequestHeader("Accept-Language", document.documentElement.lang || "zh-CN");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () => {
      let data = null;
      try {
        data = request.responseText ? JSON.parse(request.responseText) : null;
      } catch {
        data = null;
      }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new Problem(data || {}, request.status));
    });
    request.addEventListener("error", () => reject(new Problem({ title: t("The upload failed: check the connection and try again.") }, 0)));
    const payload = new FormData();
    payload.append("file", file);
    request.send(payload);
  });
}

function showImported(counts) {
  const again = el("button", { type: "button", class: "link" }, t("Show the list again"));
  again.addEventListener("click", () => location.reload());
  result.replaceChildren(
    el("div", { class: "flash ok", "data-testid": "import-success" },
      el("strong", {}, t("Imported: every row was accepted.")), " ",
      el("span", {}, `${t("rows")} ${counts.rows} · ${t("created")} ${counts.created} · ${t("updated")} ${counts.updated} · ${t("unchanged")} ${counts.unchanged}`),
      " ", again),
  );
}

function showProblems(problem) {
  // by row as Excel numbers them (problems of the file itself first), then by column
  const sorted = [...(problem.errors || [])].sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
  const rows = sorted.map((item) =>
    el("tr", {}, el("td", {}, item.row == null ? "—" : String(item.row)), el("td", {}, item.column || "—"), el("td", {}, item.message || item.code || "")),
  );
  const table = el("table", { class: "list problems", "data-testid": "import-problems" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("Row")), el("th", { scope: "col" }, t("Column")), el("th", { scope: "col" }, t("Problem")))),
    el("tbody", {}, ...rows));
  // the API lists at most 5,000 problems; its detail then gives the total
  const count = rows.length >= 5000 && problem.detail ? problem.detail : t("{n} problems found.").replace("{n}", String(rows.length));
  result.replaceChildren(
    el("div", { class: "flash error", "data-testid": "import-refused" },
      el("strong", {}, t("Nothing was imported.")), " ",
      rows.length
        ? el("span", { "data-testid": "problem-count" }, count)
        : el("span", {}, `${problem.title || problem.message}${problem.detail && problem.detail !== problem.title ? `: ${problem.detail}` : ""}`),
      " ", el("span", {}, t("Fix these in the file and import it again: an import is all or nothing."))),
    ...(rows.length ? [el("div", { class: "problems-scroll", tabindex: "0", role: "region", "aria-label": t("Problems in the ledger") }, table)] : []),
  );
}

if (importForm) {
  const progress = importForm.querySelector("[data-progress]");
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = importForm.elements.file.files[0];
    if (!file) {
      result.replaceChildren(el("p", { class: "error" }, t("Choose the ledger file first.")));
      return;
    }
    const button = importForm.querySelector("button");
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    result.replaceChildren(el("p", { class: "muted" }, t("Uploading and checking the ledger…")));
    try {
      showImported(await upload(file, (percent) => { progress.value = percent; }));
    } catch (problem) {
      showProblems(problem);
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  });
}
