// An evacuation's board (docs/evacuation.md, "The board"): counts by area with drill-down,
// vulnerable people first, helpers' progress, shelters against capacity, the Everyone-moved rate (应转尽转)
// and the time since the start (ticking). Live: GET /api/v1/events' `evacuation.household`
// events refresh it (throttled); a start or end of this evacuation reloads the page.
import { api, named, t } from "/static/console/api.js";
import { el } from "/static/console/dom.js";
import { events } from "/static/console/live.js";

const config = JSON.parse(document.getElementById("evacuation-config").textContent);
const id = config.evacuation_id;
const LEVELS = ["district", "township", "community", "grid"];
const levelSelect = document.getElementById("level");
const drillUp = document.getElementById("drill-up");
const errorBox = document.querySelector(".evac-head [data-error]");
let within = null; // the path of the area drilled into
let board = null;

const say = (box, problem) => {
  box.textContent = problem.errors?.[0]?.message || problem.detail || problem.title || problem.message || String(problem);
};
const percent = (share) => `${(100 * share).toFixed(1)} %`;
const cell = (value) => el("td", {}, String(value));

function tickElapsed() {
  const box = document.getElementById("elapsed");
  if (!config.started_at) { box.textContent = t("not started"); return; }
  const end = config.ended_at ? new Date(config.ended_at) : new Date();
  const seconds = Math.max(0, Math.floor((end - new Date(config.started_at)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = String(Math.floor((seconds % 3600) / 60)).padStart(2, "0");
  const s = String(seconds % 60).padStart(2, "0");
  box.textContent = `${h}:${m}:${s}`;
}

function showAreas() {
  const rows = board.areas.filter((a) => !within || a.path.startsWith(within));
  drillUp.hidden = !within;
  const deeper = LEVELS.indexOf(board.level) < LEVELS.length - 1;
  document.getElementById("board-areas").replaceChildren(...(rows.length ? rows.map((a) => {
    const c = a.counts;
    const row = el("tr", { "data-area": a.area.id },
      el("td", {}, a.area.name), cell(c.vulnerable_pending), cell(`${c.people} / ${c.households}`),
      cell(c.p_moved), cell(c.p_already_safe), cell(c.p_refused), cell(c.p_not_at_home),
      cell(c.p_pending + c.p_contacted), cell(percent(c.rate)));
    if (deeper) {
      row.dataset.drill = a.path;
      row.title = t("Show the areas inside");
      row.addEventListener("click", () => {
        within = a.path;
        levelSelect.value = LEVELS[LEVELS.indexOf(board.level) + 1];
        refresh().catch(report);
      });
    }
    return row;
  }) : [el("tr", {}, el("td", { colspan: "9", class: "muted" }, t("No households in your area.")))]));
}

function showShelters() {
  const list = document.getElementById("shelter-rows");
  if (!board.shelters.length) {
    list.replaceChildren(el("li", { class: "muted" }, t("No shelter has been used yet.")));
    return;
  }
  list.replaceChildren(...board.shelters.map((s) => {
    const state = s.over_capacity ? "over" : s.near_capacity ? "near" : "";
    const bar = el("span", {});
    bar.style.width = `${Math.min(100, 100 * s.ratio).toFixed(1)}%`;
    const warning = s.over_capacity ? t("Over capacity") : s.near_capacity ? t("Nearly full (90 % or more)") : "";
    return el("li", { class: state, "data-shelter": s.shelter_id, "data-state": state || "ok" },
      el("div", {}, el("span", {}, s.name), " ", el("strong", {}, `${s.occupancy} / ${s.capacity} (${percent(s.ratio)})`),
        warning ? el("span", { class: `badge ${s.over_capacity ? "danger" : "warn"}` }, warning) : ""),
      el("div", { class: "bar", role: "presentation" }, bar));
  }));
}

function showHelpers() {
  document.getElementById("helper-rows").replaceChildren(...(board.helpers.length ? board.helpers.map((h) =>
    el("tr", { "data-helper": h.helper_id }, el("td", {}, h.name || t("(no name)")), cell(h.households), cell(h.started), cell(`${h.done} / ${h.households}`)))
    : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, t("No helpers in your area.")))]));
}

async function refused() {
  if (config.status === "proposed") {
    document.getElementById("refused-rows").replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, t("Nobody has been asked to move yet."))));
    return;
  }
  const page = await api("GET", `/api/v1/evacuations/${id}/households?status=refused&limit=200`);
  document.getElementById("refused-rows").replaceChildren(...(page.items.length ? page.items.map((h) =>
    el("tr", { "data-household": h.household_id }, el("td", {}, h.address), el("td", {}, h.head_name), cell(h.people), el("td", {}, h.reason || h.note)))
    : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, t("No household has refused.")))]));
}

async function refresh() {
  board = await api("GET", `/api/v1/evacuations/${id}/board?level=${levelSelect.value}`);
  for (const [key, value] of Object.entries(board.total)) {
    for (const box of document.querySelectorAll(`[data-total="${key}"]`)) box.textContent = String(value);
  }
  // "pending" on the tiles counts the contacted too: not yet moved, not yet answered
  document.querySelector('[data-total="p_pending"]').textContent = String(board.total.p_pending + board.total.p_contacted);
  document.querySelector('[data-total="h_pending"]').textContent = String(board.total.h_pending + board.total.h_contacted);
  document.getElementById("rate").textContent = percent(board.total.rate);
  showAreas();
  showHelpers();
  showShelters();
  await refused();
}

const report = (problem) => say(errorBox, problem);

levelSelect.addEventListener("change", () => { within = null; refresh().catch(report); });
drillUp.addEventListener("click", () => { within = null; refresh().catch(report); });

tickElapsed();
if (!config.ended_at) setInterval(tickElapsed, 1000);
refresh().catch(report);

// live: at most one refresh a second, whatever the burst of events
let timer = null;
let last = 0;
function later() {
  if (timer) return;
  const wait = Math.max(200, 1000 - (Date.now() - last));
  timer = setTimeout(() => {
    timer = null;
    last = Date.now();
    refresh().catch(report); // the check-in's household list is read on load and after a check-in
  }, wait);
}
const live = document.getElementById("live");
const source = events();
source.addEventListener("open", () => { live.dataset.state = "on"; });
source.addEventListener("error", () => { live.dataset.state = "off"; });
if (source.readyState === EventSource.OPEN) live.dataset.state = "on";
source.addEventListener("closed", () => { live.dataset.state = "off"; });
source.addEventListener("evacuation.household", (event) => {
  if (JSON.parse(event.data).evacuation_id === id) later();
});
for (const name of ["evacuation.started", "evacuation.ended"]) {
  source.addEventListener(name, (event) => {
    if (JSON.parse(event.data).evacuation_id === id) location.reload();
  });
}
setInterval(() => refresh().catch(report), 60000); // the stream is best effort

// ---- confirm, end and return ----
document.querySelector("[data-confirm]")?.addEventListener("click", async (event) => {
  event.target.disabled = true;
  try {
    await api("POST", `/api/v1/evacuations/${id}/confirm`);
    location.reload();
  } catch (problem) { event.target.disabled = false; report(problem); }
});
const dialog = document.getElementById("end-dialog");
document.getElementById("end-button")?.addEventListener("click", () => dialog.showModal());
dialog?.addEventListener("close", async () => {
  if (dialog.returnValue !== "end") return;
  try {
    await api("POST", `/api/v1/evacuations/${id}/end`, { note: dialog.querySelector("textarea").value.trim() });
    location.reload();
  } catch (problem) { report(problem); }
});

// ---- shelter check-in (by household or headcount) ----
const checkin = document.getElementById("checkin-form");
async function households() {
  if (!checkin) return;
  const select = checkin.elements.household_id;
  const page = await api("GET", `/api/v1/evacuations/${id}/households?limit=200`);
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, t("Choose a household")),
    ...page.items.map((h) => el("option", { value: String(h.household_id) },
      `${h.address} · ${h.head_name} · ${h.people} · ${named("household status", h.status)}`)));
  select.value = chosen;
}
if (checkin) {
  households().catch(report);
  const by = () => checkin.elements.by.value;
  for (const radio of checkin.querySelectorAll("input[name=by]")) {
    radio.addEventListener("change", () => {
      for (const label of checkin.querySelectorAll("[data-by]")) label.hidden = label.dataset.by !== by();
    });
  }
  checkin.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = checkin.elements;
    const box = checkin.querySelector("[data-error]");
    const done = checkin.querySelector("[data-done]");
    box.textContent = "";
    done.textContent = "";
    const body = { note: f.note.value.trim() };
    if (by() === "household") {
      if (!f.household_id.value) { box.textContent = t("Choose a household."); return; }
      body.household_id = Number(f.household_id.value);
    } else {
      const people = Number(f.people.value);
      if (!Number.isInteger(people) || people < 1) { box.textContent = t("Give the number of people who arrived (1 or more)."); return; }
      body.people = people;
    }
    try {
      const arrival = await api("POST", `/api/v1/evacuations/${id}/shelters/${f.shelter_id.value}/arrivals`, body);
      const flag = arrival.over_capacity ? ` ${t("Over capacity")}` : arrival.near_capacity ? ` ${t("Nearly full (90 % or more)")}` : "";
      done.textContent = `${t("Checked in. Occupancy")} ${arrival.occupancy} / ${arrival.capacity}.${flag}`;
      f.people.value = "";
      f.note.value = "";
      await refresh();
      await households();
    } catch (problem) { say(box, problem); }
  });
}
