// Cases given to me to fix, nearest deadline first with the overdue ones marked; below them,
// the ones I reported fixed that wait for the command centre's check.
import { cachedGet, me } from "../api.js";
import { describe, h, t, view, when } from "../ui.js";
import { caseItem, offlineNote } from "./reports.js";

function deadline(r) {
  if (!r.due_at) return null;
  return r.overdue
    ? h("p.overdue", { text: t("js:Overdue since {time}", { time: when(r.due_at) }) })
    : h("p.due", { text: t("js:Due {time}", { time: when(r.due_at) }) });
}

function item(r) {
  const node = caseItem(r, `/app/case?id=${r.id}`);
  node.classList.toggle("late", r.overdue);
  const due = deadline(r);
  if (due) node.lastElementChild.append(due);
  return node;
}

export default async function () {
  try {
    const person = await me();
    const mine = `/api/v1/reports?assignee_id=${person.account.id}&sort=due&limit=50`;
    const [todo, checking, paused] = await Promise.all([
      cachedGet(`${mine}&status=dispatched&status=in_progress`),
      cachedGet(`${mine}&status=pending_check`),
      cachedGet(`${mine}&status=suspended`),
    ]);
    const open = todo.data.items;
    const waiting = checking.data.items;
    const onHold = paused.data.items;
    view(
      offlineNote(todo),
      open.length
        ? h("div.list", { id: "to-fix" }, open.map(item))
        : h("p.empty", { text: t("js:Nothing to fix right now.") }),
      waiting.length
        ? h(
            "section.waiting-check",
            { id: "waiting-check" },
            h("h2", { text: t("js:Waiting for the command centre's check") }),
            h("div.list", {}, waiting.map((r) => caseItem(r, `/app/case?id=${r.id}`))),
          )
        : null,
      // still the worker's, but their clock is stopped until the command centre resumes them
      onHold.length
        ? h(
            "section.on-hold",
            { id: "on-hold" },
            h("h2", { text: t("js:On hold: the command centre resumes these") }),
            h("div.list", {}, onHold.map((r) => caseItem(r, `/app/case?id=${r.id}`))),
          )
        : null,
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
