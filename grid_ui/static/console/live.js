// The console's live alerts, on every page: one stream of server-sent events (GET /api/v1/events)
// for the header's indicator and list, the urgent-case banner (title flash, an alarm tone once
// the officer has touched the page, "seen" for the whole area), the queue's "new cases" bar and
// the dashboard's case counters. Event texts come from the server as data: text nodes only.
import { api, t } from "/static/console/api.js";
import { el } from "/static/console/dom.js";

const config = JSON.parse(document.getElementById("live-config")?.textContent || "{}");
const english = (document.documentElement.lang || "").startsWith("en");
const day = (d) => d.toLocaleDateString("en-CA", { timeZone: config.timezone });
/** A time in the configured zone: hours and minutes today, with the date on other days. */
const local = (iso) => {
  const d = new Date(iso);
  const options = { timeZone: config.timezone, hour: "2-digit", minute: "2-digit" };
  if (day(d) !== day(new Date())) Object.assign(options, { month: "2-digit", day: "2-digit" });
  return d.toLocaleString(document.documentElement.lang, options);
};
const category = (e) => (english ? e.category_en : e.category_zh) || "";

let source = null;
/** The page's one event stream (other console scripts listen on it too). */
export function events() {
  if (!source) source = new EventSource("/api/v1/events");
  return source;
}

// ---- header: indicator, count of unread events, the list of recent ones ----
const status = document.getElementById("live-status");
const toggle = status?.querySelector("button");
const panel = document.getElementById("live-panel");
const count = status?.querySelector("[data-count]");
let unread = 0;

function setCount(n) {
  unread = n;
  if (!count) return;
  count.textContent = String(n);
  count.hidden = n === 0;
}

const TEXTS = {
  "case.new": (e) => `${t("New case")} #${e.case_id} ${category(e)} · ${e.place}`,
  "case.urgent": (e) => `${t("Urgent case")} #${e.case_id} ${category(e)} · ${e.place}`,
  "case.due_soon": (e) => `${t("Deadline in 30 min")} #${e.case_id} ${category(e)} · ${local(e.due_at)}`,
  "case.overdue": (e) => `${t("Overdue")} #${e.case_id} ${category(e)} · ${local(e.due_at)}`,
  "case.seen": (e) => `${t("Seen")} #${e.case_id} · ${e.seen_by_name} ${local(e.seen_at)}`,
  "case.sos_cancelled": (e) => `${t("SOS cancelled by its sender")} #${e.case_id} · ${e.place}`,
  "case.photo_added": (e) => `${t("Photo added by the reporter")} #${e.case_id} · ${e.place}`,
  "callout.unanswered": (e) => `${t("Callout unanswered")} · ${t("{n} have not answered").replace("{n}", e.waiting)} · ${(english ? e.text_en : e.text_zh) || ""}`.slice(0, 140),
};
const KINDS = { "case.urgent": "danger", "case.overdue": "danger", "callout.unanswered": "warn", "case.due_soon": "warn" };

function listEvent(e) {
  if (!panel) return;
  const link = e.case_id
    ? el("a", { href: `/console/cases/${Number(e.case_id)}` }, TEXTS[e.type](e))
    : el("a", { href: `/console/warnings?callout_id=${Number(e.callout_id)}` }, TEXTS[e.type](e));
  const item = el("li", { "data-type": e.type, class: KINDS[e.type] || "" },
    el("time", {}, local(e.at || new Date().toISOString())), " ", link);
  const list = panel.querySelector("ol");
  list.prepend(item);
  while (list.children.length > 30) list.lastElementChild.remove();
  panel.querySelector("[data-empty]")?.remove();
  if (panel.hidden && e.type !== "case.seen") setCount(unread + 1);
}

toggle?.addEventListener("click", () => {
  panel.hidden = !panel.hidden;
  toggle.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) setCount(0);
});

// ---- the urgent banner, the title flash and the alarm ----
const banner = document.getElementById("live-banner");
const alarms = new Map(); // case id -> banner row
const title = document.title;
let flashing = null;
let audio = null;
let ringing = null;

function flash() {
  if (alarms.size && !flashing) {
    let on = false;
    flashing = setInterval(() => {
      on = !on;
      document.title = on ? `【${t("Urgent case")}】${title}` : title;
    }, 1000);
  } else if (!alarms.size && flashing) {
    clearInterval(flashing);
    flashing = null;
    document.title = title;
  }
}

// Browsers start audio only after the person has touched the page: the context is made (or
// resumed) on the first interaction, and an alarm still waiting rings then.
function unlock() {
  for (const name of ["pointerdown", "keydown"]) document.removeEventListener(name, unlock);
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  audio = audio || new Context();
  audio.resume().then(() => { if (alarms.size) ring(); });
}
for (const name of ["pointerdown", "keydown"]) document.addEventListener(name, unlock);

function ring() {
  if (!audio || audio.state !== "running" || !alarms.size) return;
  // a two-tone siren, 3 × (880 Hz, 660 Hz), about 1.8 s
  const start = audio.currentTime + 0.05;
  const gain = audio.createGain();
  gain.connect(audio.destination);
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.3, start + 0.05);
  gain.gain.setValueAtTime(0.3, start + 1.7);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + 1.8);
  const tone = audio.createOscillator();
  tone.type = "square";
  for (let i = 0; i < 6; i += 1) tone.frequency.setValueAtTime(i % 2 ? 660 : 880, start + i * 0.3);
  tone.connect(gain);
  tone.start(start);
  tone.stop(start + 1.85);
  banner.dataset.rung = String(Number(banner.dataset.rung || 0) + 1);
}

function keepRinging() {
  if (alarms.size && !ringing) ringing = setInterval(ring, 30000); // until someone has seen it
  if (!alarms.size && ringing) { clearInterval(ringing); ringing = null; }
}

function raise(e) {
  if (!banner || alarms.has(e.case_id)) return;
  const seen = el("button", { type: "button", class: "seen", "data-testid": "alarm-seen" }, t("Seen"));
  const row = el("div", { class: "alarm", role: "alert", "data-alarm": String(e.case_id) },
    el("strong", {}, `${t("Urgent case")} #${e.case_id}`),
    el("span", { class: "what" }, `${category(e)} · ${e.place} · ${local(e.created_at)}`),
    el("span", { class: "excerpt" }, e.excerpt || ""),
    el("a", { href: `/console/cases/${Number(e.case_id)}`, class: "button" }, t("Open")),
    seen);
  seen.addEventListener("click", async () => {
    seen.disabled = true;
    try {
      await api("POST", `/api/v1/reports/${e.case_id}/seen`);
      lower(e.case_id);
    } catch (problem) {
      seen.disabled = false;
      row.querySelector(".excerpt").textContent = problem.title || problem.message;
    }
  });
  banner.prepend(row); // the newest on top
  banner.hidden = false;
  alarms.set(e.case_id, row);
  flash();
  ring();
  keepRinging();
}

function lower(caseId) {
  alarms.get(caseId)?.remove();
  alarms.delete(caseId);
  if (banner) banner.hidden = alarms.size === 0;
  flash();
  keepRinging();
}

// ---- the queue's "N new cases — show" bar ----
const queue = document.getElementById("live-queue");
let fresh = 0;
function newCase() {
  if (!queue) return;
  fresh += 1;
  const text = (fresh === 1 ? t("1 new case") : t("{n} new cases").replace("{n}", fresh));
  const show = el("button", { type: "button", class: "primary" }, t("Show"));
  show.addEventListener("click", () => location.reload());
  queue.replaceChildren(el("span", {}, `${text} — `), show);
  queue.hidden = false;
}

// ---- the dashboard's case counters ----
const tiles = document.querySelector('[data-figure="cases.open"]');
let recount = null;
function counters() {
  if (!tiles) return;
  clearTimeout(recount);
  recount = setTimeout(async () => {
    const here = new URLSearchParams(location.search);
    const ask = new URLSearchParams();
    for (const name of ["area_id", "area", "from", "to"]) if (here.get(name)) ask.set(name, here.get(name));
    try {
      const figures = await api("GET", `/api/v1/stats/dashboard?${ask}`);
      for (const [name, value] of Object.entries(figures.cases)) {
        const tile = document.querySelector(`[data-figure="cases.${name}"]`);
        const shown = tile?.querySelector(".value");
        if (!shown || shown.textContent === String(value)) continue;
        shown.textContent = String(value);
        tile.classList.add("changed");
        setTimeout(() => tile.classList.remove("changed"), 3000);
        if (name === "overdue") tile.classList.toggle("alert", value > 0);
      }
    } catch (problem) {
      console.warn(problem);
    }
  }, 500);
}

// ---- wiring ----
if (status) {
  const stream = events();
  stream.addEventListener("open", () => { status.dataset.state = "on"; });
  stream.addEventListener("error", () => { status.dataset.state = "off"; });
  stream.addEventListener("closed", () => { stream.close(); status.dataset.state = "off"; });
  for (const type of Object.keys(TEXTS)) {
    stream.addEventListener(type, (message) => {
      const e = JSON.parse(message.data);
      listEvent(e);
      if (type === "case.urgent") raise(e);
      if (type === "case.seen" || type === "case.sos_cancelled") lower(e.case_id);
      if (type === "case.new" || type === "case.urgent") newCase();
      if (type !== "callout.unanswered") counters();
    });
  }
  // alarms raised before this page opened and still not seen
  api("GET", "/api/v1/urgent-alarms").then((open) => {
    for (const a of open.reverse()) {
      raise({ ...a, category_en: a.category_name, category_zh: a.category_name });
    }
  }).catch((problem) => console.warn(problem));
}
