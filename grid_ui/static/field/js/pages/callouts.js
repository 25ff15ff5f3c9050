// Callouts (叫应): each needs the person's "received"; the tap goes through the outbox, so it
// counts even when the network is poor, and tapping twice is harmless.
import { cachedGet } from "../api.js";
import * as outbox from "../outbox.js";
import { describe, english, h, t, toast, view, when } from "../ui.js";
import { offlineNote } from "./reports.js";

const LEVELS = { blue: "js:Blue warning", yellow: "js:Yellow warning", orange: "js:Orange warning", red: "js:Red warning" };

function card(c, queued) {
  const acked = c.acked_at;
  const button = h("button.primary.ack", {
    type: "button",
    text: t("js:Received"),
    on: {
      click: async (event) => {
        event.target.disabled = true;
        const answer = await outbox.submit({ kind: "ack", label: `${t("js:Received")} · ${c.message.slice(0, 30)}`, callout_id: c.id });
        if (answer.sent) {
          toast(t("js:Acknowledged"), "ok");
          event.target.replaceWith(h("p.done", { text: "✓ " + t("js:Acknowledged") }));
        } else if (answer.item && answer.item.status === "failed") {
          toast(answer.item.error, "error");
          event.target.disabled = false;
        } else {
          event.target.replaceWith(h("p.waiting", { text: t("js:Waiting to be sent") }));
        }
      },
    },
  });
  return h(
    `section.card.callout.l-${c.level || "none"}${acked ? ".acked" : ""}`,
    { dataset: { callout: c.id } },
    c.level ? h("p.level", { text: t(LEVELS[c.level] || c.level) }) : null,
    h("p.message", { text: english() && c.message_en ? c.message_en : c.message }),
    h("p.meta", { text: [c.grid && c.grid.name, when(c.created_at)].filter(Boolean).join(" · ") }),
    c.status === "cancelled"
      ? h("p.hint", { text: t("js:Called off") })
      : acked
        ? h("p.done", { text: `✓ ${t("js:Acknowledged")} ${when(acked)}` })
        : queued
          ? h("p.waiting", { text: t("js:Waiting to be sent") })
          : button,
  );
}

export default async function () {
  try {
    const answer = await cachedGet("/api/v1/me/callouts?status=all&limit=50");
    const queued = new Set((await outbox.items()).filter((i) => i.kind === "ack").map((i) => i.callout_id));
    const list = answer.data.items;
    view(
      offlineNote(answer),
      list.length ? h("div.callouts", {}, list.map((c) => card(c, queued.has(c.id)))) : h("p.empty", { text: t("js:No callouts.") }),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
