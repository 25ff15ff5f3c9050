// My reports: plain-language status, newest first; kept for reading offline.
import { cachedGet, photoURL } from "../api.js";
import { describe, h, statusBadge, t, view, when } from "../ui.js";

export function caseItem(r, href) {
  const img = h("img.thumb", { alt: "" });
  if (r.thumbnail_url) photoURL(r.thumbnail_url).then((url) => (img.src = url)).catch(() => {});
  return h(
    "a.item",
    { href },
    img,
    h(
      "div",
      {},
      h("b", { text: `${t("js:Case {id}", { id: r.id })} · ${r.grid_name}` }),
      h("p.desc", { text: r.description || "—" }),
      h("p.meta", {}, statusBadge(r.status, r.status_text), " ", when(r.created_at)),
    ),
  );
}

export function offlineNote(answer) {
  return answer.offline
    ? h("p.offline-note", { text: t("js:Offline: as of {time}", { time: when(new Date(answer.at).toISOString()) }) })
    : null;
}

export default async function () {
  try {
    const answer = await cachedGet("/api/v1/me/reports?limit=50");
    const list = answer.data.items;
    view(
      offlineNote(answer),
      list.length
        ? h("div.list", {}, list.map((r) => caseItem(r, `/app/case?id=${r.id}`)))
        : h("p.empty", {}, t("js:You have not reported anything yet."), " ", h("a", { href: "/app/report", text: t("js:Report a hazard") })),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
