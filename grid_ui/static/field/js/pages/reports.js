// My reports: plain-language status, newest first; kept for reading offline.
import { api, cachedGet, photoURL } from "../api.js";
import { describe, h, statusBadge, t, toast, view, when } from "../ui.js";

const PAGE = "/api/v1/me/reports?limit=50";

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

// "Show more": the next page of a list, appended to it, for as long as there is one.
export function moreButton(path, cursor, container, render) {
  if (!cursor) return null;
  const button = h("button.secondary.more", { type: "button", id: "more", text: t("js:Show more") });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const page = await api(`${path}&cursor=${encodeURIComponent(cursor)}`);
      container.append(...page.items.map(render));
      cursor = page.next_cursor;
      if (cursor) button.disabled = false;
      else button.remove();
    } catch (err) {
      button.disabled = false;
      toast(describe(err), "error");
    }
  });
  return button;
}

export default async function () {
  try {
    const answer = await cachedGet(PAGE);
    const list = answer.data.items;
    const render = (r) => caseItem(r, `/app/case?id=${r.id}`);
    const container = h("div.list", {}, list.map(render));
    view(
      offlineNote(answer),
      list.length
        ? container
        : h("p.empty", {}, t("js:You have not reported anything yet."), " ", h("a", { href: "/app/report", text: t("js:Report a hazard") })),
      answer.offline ? null : moreButton(PAGE, answer.data.next_cursor, container, render),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
