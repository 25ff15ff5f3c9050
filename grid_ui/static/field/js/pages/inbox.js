// Notifications: newest first; opening one marks it read and follows its case or task.
import { api, cachedGet } from "../api.js";
import { describe, h, t, toast, view, when } from "../ui.js";
import { moreButton, offlineNote } from "./reports.js";

const PAGE = "/api/v1/me/notifications?limit=50";

function note(n) {
  return h(
    `button.item.note${n.read_at ? "" : ".unread"}${n.urgent ? ".urgent" : ""}`,
    { type: "button", on: { click: () => open(n) } },
    h("div", {}, h("b", { text: n.title }), h("p.desc", { text: n.body }), h("p.meta", { text: when(n.created_at) })),
  );
}

function target(n) {
  const d = n.data || {};
  if (d.callout_id) return "/app/callouts";
  if (d.case_id || d.report_id) return `/app/case?id=${d.case_id || d.report_id}`;
  if (d.task_id) return `/app/task?id=${d.task_id}`;
  return null;
}

async function open(n) {
  if (!n.read_at) {
    try {
      await api(`/api/v1/me/notifications/${n.id}/read`, { method: "POST" });
    } catch (err) {
      // offline: it stays unread and can be opened again
    }
  }
  const href = target(n);
  if (href) location.href = href;
  else location.reload();
}

export default async function () {
  try {
    const answer = await cachedGet(PAGE);
    const inbox = answer.data;
    const container = h("div.list", {}, inbox.items.map(note));
    view(
      offlineNote(answer),
      inbox.unread_count
        ? h(
            "p.right",
            {},
            h("button.link", {
              type: "button",
              text: t("js:Mark all read"),
              on: {
                click: async () => {
                  try {
                    await api("/api/v1/me/notifications/read-all", { method: "POST" });
                    location.reload();
                  } catch (err) {
                    toast(describe(err), "error");
                  }
                },
              },
            }),
          )
        : null,
      inbox.items.length ? container : h("p.empty", { text: t("js:No notifications.") }),
      answer.offline ? null : moreButton(PAGE, inbox.next_cursor, container, note),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
