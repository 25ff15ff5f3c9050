// The patrol page: a task's check-ins on a small map with their flags, excusing a miss, and
// making, changing, pausing and ending plans, all through the JSON API.
import { api, named, t } from "/static/console/api.js";
import { el, label } from "/static/console/dom.js";

const config = JSON.parse(document.getElementById("patrol-config").textContent);
const datum = config.datum;

const local = (iso) => new Date(iso).toLocaleTimeString(document.documentElement.lang, { timeZone: config.timezone, hour: "2-digit", minute: "2-digit" });

for (const dialog of document.querySelectorAll("dialog")) {
  dialog.querySelector("[data-close]")?.addEventListener("click", () => dialog.close());
}

// --- a task: checkpoints and check-ins on a small map -------------------------------------

const taskDialog = document.getElementById("task-dialog");
const excuseForm = document.getElementById("excuse-form");
let taskMap = null;
let currentTask = null;

function flagsOf(c) {
  const flags = [];
  if (!c.within_radius) flags.push(el("span", { class: "badge danger", "data-flag": "outside" }, `${t("outside radius")} ${Math.round(c.distance_m)} m`));
  if (c.is_mock) flags.push(el("span", { class: "badge danger", "data-flag": "mock" }, t("mock location")));
  if (c.out_of_order) flags.push(el("span", { class: "badge warn", "data-flag": "order" }, t("wrong order")));
  if (!flags.length) flags.push(el("span", { class: "badge ok" }, t("in place")));
  return flags;
}

async function openTask(id) {
  const task = await api("GET", `/api/v1/tasks/${id}?datum=${datum}`);
  currentTask = task;
  document.getElementById("task-title").textContent = `${task.plan_name} · ${task.grid.name}`;
  const body = document.getElementById("task-body");
  const rows = el("tbody");
  const names = Object.fromEntries(task.checkpoints.map((c) => [c.id, c.name]));
  for (const c of task.check_ins || []) {
    rows.append(el("tr", { "data-check-in": c.id },
      el("td", {}, local(c.at)), el("td", {}, names[c.checkpoint_id] || `#${c.checkpoint_id}`),
      el("td", { class: "flags" }, ...flagsOf(c))));
  }
  if (!(task.check_ins || []).length) rows.append(el("tr", {}, el("td", { colspan: "3", class: "muted" }, t("No check-ins"))));
  const facts = [`${t("Window")} ${local(task.window_start)}–${local(task.window_end)}`, `${t("Status")}: ${named("task status", task.status)}`];
  if (task.excused) facts.push(`${t("Excused")}: ${task.excuse_reason}`);
  body.replaceChildren(
    el("p", { class: "muted" }, facts.join(" · ")),
    el("table", { class: "list" }, el("thead", {}, el("tr", {}, el("th", {}, t("Time")), el("th", {}, t("Checkpoint")), el("th", {}, t("Flags")))), rows),
  );
  if (task.log) body.append(el("p", {}, `${t("Patrol log")}: ${task.log.narrative || "—"} (${t("households")} ${task.log.households_visited}, ${t("issues")} ${task.log.issues_found})`));
  excuseForm.hidden = !(config.may_excuse && task.status === "missed" && !task.excused);
  excuseForm.querySelector("[data-error]").textContent = "";
  taskDialog.showModal();
  const offsets = {};
  if (datum !== "wgs84") {
    const plain = await api("GET", `/api/v1/tasks/${id}?datum=wgs84`);
    for (const p of plain.checkpoints) {
      const shown = task.checkpoints.find((c) => c.id === p.id);
      offsets[p.id] = [shown.lat - p.lat, shown.lng - p.lng];
    }
  }
  drawTask(task, offsets);
}

function drawTask(task, offsets) {
  if (taskMap) taskMap.remove();
  taskMap = L.map("task-map", { attributionControl: false });
  if (config.tile_url) L.tileLayer(config.tile_url, { maxZoom: 19 }).addTo(taskMap);
  const bounds = [];
  task.checkpoints.forEach((c, i) => {
    L.circle([c.lat, c.lng], { radius: c.radius_m, color: "#0b63c5", weight: 1, fillOpacity: 0.1, className: "checkpoint" }).addTo(taskMap);
    // the radius in degrees (the map has no view yet, so Leaflet cannot measure the circle)
    const dLat = c.radius_m / 111320;
    const dLng = dLat / Math.cos((c.lat * Math.PI) / 180);
    bounds.push([c.lat - dLat, c.lng - dLng], [c.lat + dLat, c.lng + dLng]);
    L.marker([c.lat, c.lng], { title: c.name }).bindTooltip(label(`${i + 1}. `, c.name), { permanent: true, direction: "top" }).addTo(taskMap);
  });
  for (const c of task.check_ins || []) {
    // check-ins come in WGS-84 (as stored); the server converted the checkpoints to the
    // tiles' datum, and a check-in shares its checkpoint's offset to well under a metre
    const shift = offsets[c.checkpoint_id] || [0, 0];
    const at = [c.lat + shift[0], c.lng + shift[1]];
    L.circleMarker(at, { radius: 6, className: c.flagged ? "check-in flagged" : "check-in", color: c.flagged ? "#c62828" : "#2e7d32", fillOpacity: 0.9 })
      .bindTooltip(label(local(c.at), c.flagged ? " ⚠" : "")).addTo(taskMap);
    bounds.push(at);
  }
  if (bounds.length) taskMap.fitBounds(bounds, { padding: [30, 30], maxZoom: 17 });
  setTimeout(() => taskMap.invalidateSize(), 50);
}

for (const card of document.querySelectorAll("[data-task]")) {
  card.addEventListener("click", () => openTask(card.dataset.task).catch((p) => alert(p.title || p.message)));
}

excuseForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const reason = new FormData(excuseForm).get("reason");
  try {
    await api("POST", `/api/v1/tasks/${currentTask.id}/excuse`, { reason });
    location.reload();
  } catch (problem) {
    excuseForm.querySelector("[data-error]").textContent = problem.errors[0]?.message || problem.title;
  }
});

// --- plans ---------------------------------------------------------------------------------

const planDialog = document.getElementById("plan-dialog");
const planForm = document.getElementById("plan-form");
let editing = null;

function whoOptions(gridId, chosen) {
  const select = planForm.elements.who;
  for (const o of [...select.options]) if (o.value.startsWith("person:")) o.remove();
  for (const m of config.team[String(gridId)] || []) {
    select.append(new Option(`${m.name} (${named("duty", m.duty)})`, `person:${m.id}`));
  }
  if (chosen) select.value = chosen;
}

// the grid may change again before its risk points arrive: only the latest answer is shown
let checkpointRequest = 0;

async function checkpointChoices(gridId, chosen = []) {
  const box = document.getElementById("checkpoint-choices");
  const request = ++checkpointRequest;
  box.textContent = t("Loading…");
  const page = await api("GET", `/api/v1/risk-points?area_id=${gridId}&limit=200`);
  if (request !== checkpointRequest) return;
  box.replaceChildren();
  for (const p of page.items) {
    const input = el("input", { type: "checkbox", name: "risk_point", value: String(p.id) });
    input.checked = chosen.includes(p.id);
    box.append(el("label", { class: "check" }, input, ` ${p.name}`));
  }
  if (!page.items.length) box.textContent = t("No risk points in this grid");
}

async function gridCentre(gridId) {
  const area = await api("GET", `/api/v1/areas/${gridId}`);
  const [w, s, e, n] = area.bbox;
  return { lat: (s + n) / 2, lng: (w + e) / 2, datum: "wgs84", name: t("Grid centre"), radius_m: 150 };
}

function openPlanForm(plan) {
  editing = plan;
  planForm.reset();
  planForm.querySelector("[data-error]").textContent = "";
  document.getElementById("plan-title").textContent = plan ? t("Edit plan") : t("New plan");
  const grid = plan ? plan.grid.id : planForm.elements.grid_id.value;
  planForm.elements.grid_id.disabled = Boolean(plan);
  if (plan) {
    planForm.elements.grid_id.value = plan.grid.id;
    planForm.elements.name.value = plan.name;
    planForm.elements.kind.value = plan.recurrence.kind;
    planForm.elements.time.value = plan.recurrence.time;
    planForm.elements.window_minutes.value = plan.window_minutes;
    planForm.elements.ordered.checked = plan.ordered;
    planForm.elements.centre.checked = plan.checkpoints.some((c) => !c.risk_point_id);
    for (const box of planForm.querySelectorAll("[name=days]")) box.checked = plan.recurrence.days?.includes(box.value);
  }
  showDays();
  const who = plan ? (plan.account_id ? `person:${plan.account_id}` : `duty:${plan.duty}:${plan.employment || ""}`) : null;
  whoOptions(grid, who);
  checkpointChoices(grid, plan ? plan.checkpoints.map((c) => c.risk_point_id).filter(Boolean) : []);
  planDialog.showModal();
}

function showDays() {
  planForm.querySelector(".days").hidden = planForm.elements.kind.value !== "weekly";
}

planForm.elements.kind.addEventListener("change", showDays);
planForm.elements.grid_id.addEventListener("change", () => {
  whoOptions(planForm.elements.grid_id.value);
  checkpointChoices(planForm.elements.grid_id.value);
});
document.getElementById("new-plan")?.addEventListener("click", () => openPlanForm(null));
for (const button of document.querySelectorAll("[data-edit]")) {
  button.addEventListener("click", async () => openPlanForm(await api("GET", `/api/v1/patrol-plans/${button.dataset.edit}`)));
}

planForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = planForm.elements;
  const gridId = Number(f.grid_id.value);
  const checkpoints = [...planForm.querySelectorAll("[name=risk_point]:checked")].map((b) => ({ risk_point_id: Number(b.value) }));
  const error = planForm.querySelector("[data-error]");
  try {
    if (f.centre.checked) {
      const kept = editing?.checkpoints.find((c) => !c.risk_point_id);
      checkpoints.push(kept ? { lat: kept.lat, lng: kept.lng, datum: "wgs84", name: kept.name, radius_m: kept.radius_m } : await gridCentre(gridId));
    }
    if (!checkpoints.length) { error.textContent = t("Choose at least one checkpoint"); return; }
    const body = {
      name: f.name.value,
      recurrence: { kind: f.kind.value, time: f.time.value, days: f.kind.value === "weekly" ? [...planForm.querySelectorAll("[name=days]:checked")].map((b) => b.value) : [] },
      window_minutes: Number(f.window_minutes.value),
      ordered: f.ordered.checked,
      checkpoints,
    };
    const [kind, value, employment] = f.who.value.split(":");
    if (kind === "person") Object.assign(body, { account_id: Number(value), duty: null, employment: null });
    else Object.assign(body, { duty: value, employment: employment || null, ...(editing ? { account_id: null } : {}) });
    if (editing) await api("PATCH", `/api/v1/patrol-plans/${editing.id}`, body);
    else await api("POST", "/api/v1/patrol-plans", { ...body, grid_id: gridId });
    location.reload();
  } catch (problem) {
    error.textContent = problem.errors?.[0]?.message || problem.title || problem.message;
  }
});

for (const button of document.querySelectorAll("[data-plan-action]")) {
  button.addEventListener("click", async () => {
    const action = button.dataset.planAction;
    if (action === "end" && !confirm(t("End this plan for good?"))) return;
    try {
      await api("POST", `/api/v1/patrol-plans/${button.dataset.id}/${action}`);
      location.reload();
    } catch (problem) {
      alert(problem.title || problem.message);
    }
  });
}
