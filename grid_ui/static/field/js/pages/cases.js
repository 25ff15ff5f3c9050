// Cases given to me (or my grid) to fix, oldest deadline first as the API lists them.
import { cachedGet, me } from "../api.js";
import { describe, h, t, view } from "../ui.js";
import { caseItem, offlineNote } from "./reports.js";

export default async function () {
  try {
    const person = await me();
    const answer = await cachedGet(
      `/api/v1/reports?assignee_id=${person.account.id}&status=dispatched&status=in_progress&status=pending_check&limit=50`,
    );
    const list = answer.data.items;
    view(
      offlineNote(answer),
      list.length
        ? h("div.list", {}, list.map((r) => caseItem(r, `/app/case?id=${r.id}`)))
        : h("p.empty", { text: t("js:Nothing to fix right now.") }),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
