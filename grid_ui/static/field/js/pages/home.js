import { api, logout, me } from "../api.js";
import * as outbox from "../outbox.js";
import * as sos from "../sos.js";
import { $, english, h, t } from "../ui.js";
import { helperBanner, residentCard } from "./evacuation.js";

const DUTIES = JSON.parse(document.getElementById("duty-names").textContent);

async function fill(id, load) {
  try {
    $(id).textContent = await load();
  } catch (err) {
    $(id).textContent = "";
  }
}

export default async function ({ staff }) {
  sos.start(); // first: a call for help must not wait for the tiles
  const person = await me();
  const duties = person.assignments.map((a) => `${DUTIES[a.duty] || a.duty} · ${a.area_name}`);
  $("#who").textContent = [t("js:Hello, {name}", { name: person.account.name }), ...duties].join("\n");
  $("#logout").addEventListener("click", async () => {
    const waiting = (await outbox.items()).length;
    if (waiting && !confirm(t("js:{n} items have not been sent and will be lost. Sign out?", { n: waiting }))) {
      return;
    }
    for (const item of await outbox.items()) await outbox.discard(item.id);
    await logout();
    location.replace("/app/login");
  });
  const jobs = [
    fill("#tile-reports", async () => {
      const page = await api("/api/v1/me/reports?limit=50");
      return t("js:{n} reports", { n: page.items.length + (page.next_cursor ? "+" : "") });
    }),
    fill("#tile-points", async () => t("js:{n} points", { n: (await api("/api/v1/me/points?limit=1")).balance })),
    fill("#tile-inbox", async () => {
      const inbox = await api("/api/v1/me/notifications?limit=1");
      const badge = $("#unread");
      badge.textContent = inbox.unread_count;
      badge.hidden = !inbox.unread_count;
      return t("js:{n} unread", { n: inbox.unread_count });
    }),
    fill("#tile-outbox", async () => t("js:{n} waiting", { n: (await outbox.items()).length })),
    // an evacuation: the helper's banner, a linked resident's card (each hidden otherwise)
    residentCard($("#evacuation-card")).catch(() => {}),
    staff ? helperBanner($("#evacuation-banner")).catch(() => {}) : null,
  ];
  if (staff) {
    jobs.push(
      fill("#tile-tasks", async () => {
        const page = await api("/api/v1/me/tasks?limit=50");
        const open = page.items.filter((i) => i.status === "scheduled" || i.status === "in_progress");
        return t("js:{n} to do", { n: open.length });
      }),
      fill("#tile-cases", async () => {
        const page = await api(
          `/api/v1/reports?assignee_id=${person.account.id}&status=dispatched&status=in_progress&limit=50`,
        );
        return t("js:{n} open", { n: page.items.length });
      }),
      fill("#tile-callouts", calloutBanner),
    );
    // the banner goes as soon as the "received" is sent (or kept to send), here or elsewhere
    window.addEventListener("outbox", () => calloutBanner().catch(() => {}));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") calloutBanner().catch(() => {});
    });
  }
  await Promise.all(jobs);
}

// Callouts not yet answered: a red banner at the top until each has its "received" (one kept
// in the outbox counts: it is on its way). The tile's text is the count.
async function calloutBanner() {
  const page = await api("/api/v1/me/callouts?status=pending&limit=50");
  const queued = new Set((await outbox.items()).filter((i) => i.kind === "ack").map((i) => i.callout_id));
  const waiting = page.items.filter((c) => !c.acked_at && c.status !== "cancelled" && !queued.has(c.id));
  const banner = $("#callout-banner");
  const tile = $("#tile-callouts");
  tile.closest(".tile").classList.toggle("alarm", waiting.length > 0);
  if (!waiting.length) {
    banner.hidden = true;
    banner.replaceChildren();
    return t("js:None waiting");
  }
  const first = waiting[0];
  const lines = [
    h("b", { text: t("js:Callout: tap to confirm you received it") }),
    h("span.message", { text: english() && first.message_en ? first.message_en : first.message }),
  ];
  if (waiting.length > 1) lines.push(h("small", { text: t("js:and {n} more waiting", { n: waiting.length - 1 }) }));
  banner.replaceChildren(...lines);
  banner.hidden = false;
  return t("js:{n} to acknowledge", { n: waiting.length });
}
