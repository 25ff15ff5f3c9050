// Today's patrols and the next ones, with how many checkpoints are done.
import { cachedGet } from "../api.js";
import * as outbox from "../outbox.js";
import { describe, h, t, view, when } from "../ui.js";
import { moreButton, offlineNote } from "./reports.js";

const PAGE = "/api/v1/me/tasks?limit=50";

function taskItem(task) {
  const done = task.checkpoints.filter((c) => c.checked_in).length;
  return h(
    "a.item.task",
    { href: `/app/task?id=${task.id}` },
    h(
      "div",
      {},
      h("b", { text: task.plan_name }),
      h("p.desc", { text: `${task.grid.name} · ${when(task.window_start)}–${when(task.window_end, { date: false })}` }),
      h(
        "p.meta",
        {},
        h(`span.status.t-${task.status}`, { text: t(TASK_STATUS[task.status] || task.status) }),
        " ",
        t("js:{done} of {all} checkpoints", { done, all: task.checkpoints.length }),
      ),
    ),
  );
}

export const TASK_STATUS = {
  scheduled: "js:To do",
  in_progress: "js:Under way",
  completed: "js:Done",
  missed: "js:Missed",
  cancelled: "js:Cancelled",
};

// Check-ins waiting in the outbox; when one is sent, the list is read again so its task's
// status and count change without a reload.
async function queuedCheckins() {
  return (await outbox.items()).filter((i) => i.kind === "checkin").length;
}

let queued = 0;
async function followOutbox() {
  const now = await queuedCheckins();
  const sent = now < queued;
  queued = now;
  if (sent) await show();
}

export default async function () {
  queued = await queuedCheckins();
  window.addEventListener("outbox", followOutbox);
  await show();
}

async function show() {
  try {
    const answer = await cachedGet(PAGE);
    const list = answer.data.items;
    const container = h("div.list", {}, list.map(taskItem));
    view(
      offlineNote(answer),
      list.length ? container : h("p.empty", { text: t("js:No patrols for you today.") }),
      answer.offline ? null : moreButton(PAGE, answer.data.next_cursor, container, taskItem),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
