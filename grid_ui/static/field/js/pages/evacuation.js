// Evacuation (转移避险) on the phone. A helper's households, most vulnerable first then the
// nearest, each with a call button, a navigation link and the status buttons; a resident's
// card on the home page (home.js calls residentCard) with the shelter, the route and the
// answers "I have moved" / "I am safe". Every tap goes through the outbox (Idempotency-Key),
// so it counts with no signal and is sent exactly once.
import { api, cachedGet } from "../api.js";
import * as outbox from "../outbox.js";
import { describe, distanceText, h, locate, metresBetween, t, toast, view, when } from "../ui.js";
import { offlineNote } from "./reports.js";

const STATUS = {
  pending: "js:Not contacted",
  contacted: "js:Contacted",
  moved: "js:Moved",
  refused: "js:Refused",
  not_at_home: "js:Not at home",
  already_safe: "js:Already safe",
};
const DESTINATION = { shelter: "js:to the shelter", relatives: "js:to relatives", self_arranged: "js:self-arranged" };
const ANSWER = { moved: "js:Resident says: I have moved", safe: "js:Resident says: I am safe" };
// a move or "already safe" from these statuses skips the contact: the server wants a note
const UNCONTACTED = new Set(["pending", "not_at_home"]);

function frailty(item) {
  return item.elderly_alone + item.disabled;
}

// Most vulnerable people first, then the elderly living alone and the disabled, then the
// nearest (households without a place last), then the order of the list.
export function sortHouseholds(items, here) {
  const distance = (item) => (here && item.lat != null ? metresBetween(here, item) : Infinity);
  return items
    .map((item, index) => ({ item, index, metres: distance(item) }))
    .sort(
      (a, b) =>
        b.item.vulnerable - a.item.vulnerable ||
        frailty(b.item) - frailty(a.item) ||
        a.metres - b.metres ||
        a.index - b.index,
    );
}

function members(item) {
  const parts = [t("js:{n} people", { n: item.people })];
  if (item.elderly_alone) parts.push(t("js:{n} elderly living alone", { n: item.elderly_alone }));
  if (item.disabled) parts.push(t("js:{n} disabled or bedridden", { n: item.disabled }));
  if (item.children) parts.push(t("js:{n} young children", { n: item.children }));
  if (item.pregnant) parts.push(t("js:{n} pregnant", { n: item.pregnant }));
  return parts.join(" · ");
}

function statusLine(item) {
  let text = t(STATUS[item.status] || item.status);
  if (item.status === "moved" && item.destination) {
    text += " " + (item.destination === "shelter" && item.shelter ? t("js:to {name}", { name: item.shelter.name }) : t(DESTINATION[item.destination]));
  }
  return h(`span.status.e-${item.status}`, { text });
}

// Links made here from numbers and digits only (never a string of the data as it came), so
// none can carry a script: the phone's map app (geo:, WGS-84), a web map's walking route, a call.
function number(value) {
  return Number(value).toFixed(6);
}

function geoURL(lat, lng, name = "") {
  const at = `${number(lat)},${number(lng)}`;
  return `geo:${at}?q=${at}${name ? `(${encodeURIComponent(name)})` : ""}`;
}

function webRouteURL(lat, lng, name) {
  return `https://uri.amap.com/navigation?to=${number(lng)},${number(lat)},${encodeURIComponent(name)}&mode=walk&coordinate=wgs84&callnative=1`;
}

function telURL(phone) {
  return `tel:${String(phone).replace(/[^0-9+]/g, "")}`;
}

function navigation(item) {
  if (item.lat == null || item.lng == null) return null;
  return h("a.button.secondary", { href: geoURL(item.lat, item.lng), text: t("js:Navigate") });
}

// What the buttons of a status ask for before sending: a destination, a reason, a note.
function form(item, status, done) {
  const skips = UNCONTACTED.has(item.status) && (status === "moved" || status === "already_safe");
  const fields = [];
  let destination = null;
  if (status === "moved") {
    const options = [];
    // the planned shelter first, then the other open shelters serving the grid (the planned
    // one may be full or cut off); where it already moved to stays offered
    const offered = [...(item.shelters || [])];
    if (item.shelter && !offered.some((s) => s.id === item.shelter.id)) offered.unshift(item.shelter);
    for (const s of offered) options.push(h("option", { value: `shelter:${s.id}`, text: t("js:Shelter: {name}", { name: s.name }) }));
    options.push(h("option", { value: "relatives", text: t("js:Relatives or friends") }));
    options.push(h("option", { value: "self_arranged", text: t("js:Self-arranged") }));
    destination = h("select", { name: "destination" }, options);
    fields.push(h("label", {}, t("js:Moved to"), destination));
  }
  const reason = status === "refused" ? h("textarea", { name: "reason", rows: 2, "aria-required": "true", maxlength: 500 }) : null;
  if (reason) fields.push(h("label", {}, t("js:Why do they refuse? (required)"), reason));
  const wantsNote = skips || status === "already_safe";
  const note = wantsNote ? h("textarea", { name: "note", rows: 2, maxlength: 500, "aria-required": skips ? "true" : null }) : null;
  if (note) fields.push(h("label", {}, skips ? t("js:How do you know? (required without contact)") : t("js:Note"), note));
  const error = h("p.error", { role: "alert" });
  const send = h("button.primary", { type: "submit", text: t("js:Send") });
  const node = h("form.form.status-form", {
    on: {
      submit: (event) => {
        event.preventDefault();
        const body = { status };
        if (destination) {
          const [kind, id] = destination.value.split(":");
          body.destination = kind;
          if (id) body.shelter_id = Number(id);
        }
        if (reason) {
          if (!reason.value.trim()) {
            error.textContent = t("js:Say why they refuse.");
            reason.focus();
            return;
          }
          body.reason = reason.value.trim();
        }
        if (note) {
          if (skips && !note.value.trim()) {
            error.textContent = t("js:Say how you know, since there was no contact.");
            note.focus();
            return;
          }
          body.note = note.value.trim();
        }
        send.disabled = true;
        done(body);
      },
    },
  }, fields, error, send);
  return node;
}

// The outcome of a tap, shown under the card: sent, queued, or refused with the reason.
function outcome(state, kind, text) {
  state.textContent = text;
  state.className = `sending ${kind}`;
}

async function record(entry, body, node) {
  const item = entry.item;
  body.device_time = new Date().toISOString();
  try {
    body.location = await locate({ timeout: 8000 });
  } catch (err) {
    // sent without a place rather than not at all
  }
  const answer = await outbox.submit({
    kind: "evacuation",
    label: `${t(STATUS[body.status])} · ${item.address.slice(0, 30)}`,
    evacuation_id: item.evacuation_id,
    household_id: item.household_id,
    body,
  });
  const failed = !answer.sent && answer.item && answer.item.status === "failed";
  let shown = node;
  if (!failed) {
    // sent, or queued behind what waits before it: the page goes on from the new status
    item.status = body.status;
    item.destination = body.destination || "";
    if (body.status === "moved" && body.destination !== "shelter") item.shelter = null;
    if (body.status === "refused") item.reason = body.reason;
    shown = card(entry, false);
    node.replaceWith(shown);
    summarise();
  }
  const state = shown.querySelector(".sending");
  if (answer.sent) {
    outcome(state, "done", "✓ " + t("js:Sent"));
    toast(t("js:Sent"), "ok");
  } else if (failed) {
    outcome(state, "error", answer.item.error);
    shown.querySelector(".status-form")?.remove();
    shown.querySelector(".actions").hidden = false;
  } else {
    outcome(state, "waiting", t("js:Queued: will be sent when online"));
  }
}

// The statuses a household may go to next (the server's workflow table, runs.NEXT).
const NEXT = {
  pending: ["contacted", "moved", "refused", "not_at_home", "already_safe"],
  not_at_home: ["contacted", "moved", "refused", "not_at_home", "already_safe"],
  contacted: ["moved", "refused", "not_at_home", "already_safe"],
  refused: ["contacted", "moved", "already_safe"],
  moved: ["moved"],
  already_safe: [],
};
let households = [];

function summarise() {
  const line = document.querySelector(".summary");
  const open = households.filter((e) => !["moved", "already_safe"].includes(e.item.status)).length;
  if (line) line.textContent = t("js:{n} households, {open} still to move", { n: households.length, open });
}


function card(entry, queued) {
  const item = entry.item;
  const phone = item.head_phone;
  const state = h("p.sending", { role: "status" });
  if (queued) {
    state.textContent = t("js:Queued: will be sent when online");
    state.className = "sending waiting";
  }
  const actions = h("div.actions");
  const node = h(
    `section.card.household${item.vulnerable ? ".vulnerable" : ""}`,
    { dataset: { household: item.household_id } },
    h("h2.address", { text: item.address }),
    h("p.head", {}, h("b", { text: item.head_name }), " ", statusLine(item)),
    h("p.members", { text: members(item) }),
    h("p.meta", {
      text: [
        item.shelter
          ? t("js:Shelter: {name}", { name: item.shelter.name })
          : item.status === "moved"
            ? null
            : t("js:No shelter planned"),
        Number.isFinite(entry.metres) ? distanceText(entry.metres) : null,
      ]
        .filter(Boolean)
        .join(" · "),
    }),
    item.status === "refused" && item.reason ? h("p.hint", { text: t("js:Reason: {text}", { text: item.reason }) }) : null,
    item.resident_answer
      ? h("p.answer", { text: `${t(ANSWER[item.resident_answer.answer])} · ${when(item.resident_answer.at)}` })
      : null,
    h(
      "div.row.reach",
      {},
      phone ? h("a.button.primary.call", { href: telURL(phone), text: t("js:Call {name}", { name: item.head_name }) }) : null,
      navigation(item),
    ),
    actions,
    state,
  );
  for (const status of NEXT[item.status] || []) {
    const button = h("button.secondary", {
      type: "button",
      text: status === "moved" && item.status === "moved" ? t("js:Moved elsewhere") : t(STATUS[status]),
      dataset: { status },
      on: {
        click: () => {
          node.querySelector(".status-form")?.remove();
          const needs = status === "moved" || status === "refused" || status === "already_safe";
          if (!needs) {
            actions.hidden = true;
            record(entry, { status }, node).catch((err) => toast(describe(err), "error"));
            return;
          }
          actions.hidden = true;
          const cancel = h("button.link", { type: "button", text: t("js:Cancel"), on: { click: () => { box.remove(); actions.hidden = false; } } });
          const box = h("div.status-form", {}, form(item, status, (body) => {
            record(entry, body, node).catch((err) => toast(describe(err), "error"));
          }), cancel);
          node.insertBefore(box, state);
        },
      },
    });
    actions.append(button);
  }
  return node;
}

async function position() {
  try {
    return await locate({ timeout: 5000 });
  } catch (err) {
    return null;
  }
}

// A status queued offline and sent when the network came back: its card stops saying
// "queued" (or shows why the server refused it). The outbox says when anything changed.
async function settleQueued() {
  const waiting = [...document.querySelectorAll("section.household .sending.waiting")];
  if (!waiting.length) return;
  const held = new Map(
    (await outbox.items()).filter((i) => i.kind === "evacuation").map((i) => [`${i.evacuation_id}:${i.household_id}`, i]),
  );
  for (const state of waiting) {
    const entry = households.find((e) => String(e.item.household_id) === state.closest("section.household").dataset.household);
    if (!entry) continue;
    const item = held.get(`${entry.item.evacuation_id}:${entry.item.household_id}`);
    if (!item) outcome(state, "done", "✓ " + t("js:Sent"));
    else if (item.status === "failed") outcome(state, "error", item.error);
  }
}
window.addEventListener("outbox", () => settleQueued().catch(() => {}));

export default async function () {
  try {
    const [answer, here] = await Promise.all([cachedGet("/api/v1/evacuations/my-households?limit=200"), position()]);
    const queued = new Set(
      (await outbox.items()).filter((i) => i.kind === "evacuation").map((i) => `${i.evacuation_id}:${i.household_id}`),
    );
    const list = sortHouseholds(answer.data.items, here);
    households = list;
    const open = list.filter((e) => !["moved", "already_safe"].includes(e.item.status)).length;
    view(
      offlineNote(answer),
      list.length
        ? h("p.summary", { text: t("js:{n} households, {open} still to move", { n: list.length, open }) })
        : null,
      here ? null : list.length ? h("p.hint", { text: t("js:Without your position the list is not sorted by distance.") }) : null,
      list.length
        ? h("div.households", {}, list.map((e) => card(e, queued.has(`${e.item.evacuation_id}:${e.item.household_id}`))))
        : h("p.empty", { text: t("js:No households to move.") }),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}

// The home page: a helper's banner, a linked resident's card. Both stay hidden otherwise.
export async function helperBanner(banner) {
  const page = await api("/api/v1/evacuations/my-households?limit=200");
  const open = page.items.filter((i) => !["moved", "already_safe"].includes(i.status));
  if (!page.items.length) {
    banner.hidden = true;
    return;
  }
  banner.replaceChildren(
    h("b", { text: t("js:Evacuation: move your households") }),
    h("span", { text: t("js:{n} households, {open} still to move", { n: page.items.length, open: open.length }) }),
  );
  banner.hidden = false;
}

export async function residentCard(box) {
  const page = await api("/api/v1/evacuations/my-household?limit=20");
  // a resident may be linked to more than one household: each card answers for its own
  const queued = new Set(
    (await outbox.items()).filter((i) => i.kind === "answer").map((i) => `${i.evacuation_id}:${i.body.household_id}`),
  );
  box.replaceChildren(
    ...page.items.map((item) => {
      const state = h("p.sending", { role: "status" });
      if (queued.has(`${item.evacuation_id}:${item.household_id}`)) {
        state.textContent = t("js:Queued: will be sent when online");
        state.className = "sending waiting";
      } else if (item.answer) {
        state.textContent = `✓ ${t(item.answer.answer === "safe" ? "js:You said: I am safe" : "js:You said: I have moved")} · ${when(item.answer.at)}`;
        state.className = "sending done";
      }
      const reply = (value) => async (event) => {
        for (const b of event.target.parentNode.querySelectorAll("button")) b.disabled = true;
        let location = null;
        try {
          location = await locate({ timeout: 8000 });
        } catch (err) {
          location = null;
        }
        const body = { answer: value, household_id: item.household_id, device_time: new Date().toISOString() };
        if (location) body.location = location;
        const sent = await outbox.submit({
          kind: "answer",
          label: t(value === "safe" ? "js:I am safe" : "js:I have moved"),
          evacuation_id: item.evacuation_id,
          body,
        });
        if (sent.sent) {
          state.textContent = `✓ ${t(value === "safe" ? "js:You said: I am safe" : "js:You said: I have moved")}`;
          state.className = "sending done";
        } else if (sent.item && sent.item.status === "failed") {
          state.textContent = sent.item.error;
          state.className = "sending error";
        } else {
          state.textContent = t("js:Queued: will be sent when online");
          state.className = "sending waiting";
        }
        for (const b of event.target.parentNode.querySelectorAll("button")) b.disabled = false;
      };
      const s = item.shelter;
      return h(
        "section.card.evacuation-notice",
        { dataset: { evacuation: item.evacuation_id, household: item.household_id } },
        h("h2", { text: t("js:Evacuate now") }),
        h("p", { text: item.address }),
        h("p.shelter", { text: s ? t("js:Go to: {name}", { name: s.name }) : t("js:Go somewhere safe, away from the danger.") }),
        s && s.contact_phone ? h("p.meta", { text: t("js:Shelter phone: {phone}", { phone: s.contact_phone }) }) : null,
        s
          ? h(
              "div.row.reach",
              {},
              h("a.button.secondary.route", { href: geoURL(s.lat, s.lng, s.name), text: t("js:Route on the map") }),
              h("a.button.secondary.web-route", { href: webRouteURL(s.lat, s.lng, s.name), rel: "noopener noreferrer", text: t("js:Web map") }),
            )
          : null,
        h(
          "div.row.answers",
          {},
          h("button.primary", { type: "button", text: t("js:I have moved"), on: { click: reply("moved") } }),
          h("button.primary.safe", { type: "button", text: t("js:I am safe"), on: { click: reply("safe") } }),
        ),
        state,
      );
    }),
  );
  box.hidden = !page.items.length;
}
