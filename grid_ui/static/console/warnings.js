// Warnings and callouts: issue a warning; the acknowledgement board of a callout, refreshed
// live from the server-sent events of GET /api/v1/events (callout.ack, callout.created).
import { api, named, t } from "/static/console/api.js";
import { el } from "/static/console/dom.js";
import { events } from "/static/console/live.js";

const config = JSON.parse(document.getElementById("warnings-config").textContent);

const form = document.getElementById("warning-form");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = form.elements;
  const expires = new Date(Date.now() + Number(f.hours.value) * 3600 * 1000);
  const body = {
    level: f.level.value,
    type: f.type.value,
    area_ids: [...f.area_ids.selectedOptions].map((o) => Number(o.value)),
    expires_at: expires.toISOString(),
    message: f.message.value,
    callout: f.callout.checked,
  };
  try {
    const warning = await api("POST", "/api/v1/warnings", body);
    const callout = warning.callout_ids?.[warning.callout_ids.length - 1];
    location.href = `/console/warnings?area_id=${config.area_id}${callout ? `&callout_id=${callout}` : ""}`;
  } catch (problem) {
    form.querySelector("[data-error]").textContent = problem.errors?.[0]?.message || problem.title || problem.message;
  }
});

// lifting a warning: its reason asked in a dialog; the list shows the new status on reload
const lift = document.getElementById("lift-dialog");
let lifting = null;
for (const button of document.querySelectorAll("[data-lift]")) {
  button.addEventListener("click", () => {
    lifting = Number(button.dataset.lift);
    lift.querySelector("textarea").value = "";
    lift.showModal();
  });
}
lift?.addEventListener("close", async () => {
  if (lift.returnValue !== "lift" || lifting === null) return;
  try {
    await api("POST", `/api/v1/warnings/${lifting}/cancel`, { reason: lift.querySelector("textarea").value.trim() });
    location.reload();
  } catch (problem) {
    document.querySelector("[data-lift-error]").textContent = problem.errors?.[0]?.message || problem.title || problem.message;
  }
});

const ANSWER = { acked: "badge ok", pending: "badge", reminded: "badge warn", escalated: "badge danger" };
const local = (iso) => new Date(iso).toLocaleTimeString(document.documentElement.lang, { timeZone: config.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit" });
let flashed = null;
// grids repeat their names across communities (six 第一网格 in a township): say whose it is
const placeName = (parent, name) => (parent ? `${parent} / ${name}` : name);

async function refresh() {
  const board = await api("GET", `/api/v1/callouts/${config.callout_id}/board?level=grid&limit=200`);
  for (const [key, value] of Object.entries(board.totals)) {
    const cell = document.querySelector(`[data-total="${key}"]`);
    if (cell) cell.textContent = String(value);
  }
  const share = board.totals.recipients ? (100 * board.totals.acked) / board.totals.recipients : 0;
  document.getElementById("progress").setAttribute("width", share.toFixed(1));
  document.getElementById("board-areas").replaceChildren(...board.areas.map((a) =>
    el("tr", {}, el("td", {}, placeName(a.parent_name, a.area.name)), el("td", {}, String(a.acked)), el("td", {}, String(a.pending)))));
  document.getElementById("board-people").replaceChildren(...board.people.map((p) => {
    const row = el("tr", { "data-person": p.account_id, "data-status": p.status },
      el("td", {}, p.name), el("td", {}, named("duty", p.duty)), el("td", {}, p.grid ? placeName(p.community, p.grid.name) : ""),
      el("td", {}, el("span", { class: ANSWER[p.status] }, named("callout answer", p.status)), p.acked_at ? ` ${local(p.acked_at)}` : ""));
    if (p.account_id === flashed) row.className = "flash";
    return row;
  }));
}

if (config.callout_id) {
  refresh().catch((problem) => console.warn(problem));
  const live = document.getElementById("live");
  const source = events(); // the page's one stream, shared with the header's live alerts
  source.onopen = () => { live.dataset.state = "on"; };
  source.onerror = () => { live.dataset.state = "off"; };
  if (source.readyState === EventSource.OPEN) live.dataset.state = "on"; // opened already
  // the server closed this stream for a newer one of the same account (too many tabs)
  source.addEventListener("closed", () => { source.close(); live.dataset.state = "off"; });
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => refresh().catch(console.warn), 150); };
  for (const name of ["callout.ack", "callout.created", "callout.cancelled", "callout.escalated"]) {
    source.addEventListener(name, (event) => {
      const data = JSON.parse(event.data);
      if (data.callout_id !== config.callout_id) return;
      flashed = data.account_id ?? null;
      later();
    });
  }
  // the stream is best effort: a slow refresh keeps the board right if an event is lost
  setInterval(() => refresh().catch(console.warn), 60000);
}
