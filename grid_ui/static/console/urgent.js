// Urgent cases: the nearest rescue teams of each tier for a case, and dispatching one.
import { api, t } from "/static/console/api.js";
import { el } from "/static/console/dom.js";

async function suggest(caseId, box) {
  box.hidden = false;
  box.replaceChildren(el("p", { class: "muted" }, t("Loading…")));
  const found = await api("GET", `/api/v1/reports/${caseId}/team-suggestions`);
  const column = (key, label) => {
    const list = el("ul");
    for (const s of found[key]) {
      const button = el("button", { type: "button", class: "link" }, s.already_dispatched ? t("Dispatched") : t("Dispatch"));
      button.disabled = s.already_dispatched;
      button.addEventListener("click", async () => {
        try {
          await api("POST", `/api/v1/reports/${caseId}/responses`, { team_id: s.team.id });
          location.reload();
        } catch (problem) {
          alert(problem.title || problem.message);
        }
      });
      list.append(el("li", {}, el("strong", {}, s.team.name), ` · ${(s.distance_m / 1000).toFixed(1)} km `, button));
    }
    if (!found[key].length) list.append(el("li", { class: "muted" }, t("No team")));
    return el("div", {}, el("h3", {}, label), list);
  };
  box.replaceChildren(column("community", t("Community")), column("ground", t("Ground rescue")), column("air", t("Air rescue")));
}

for (const button of document.querySelectorAll("[data-suggest]")) {
  const box = document.querySelector(`[data-suggestions="${button.dataset.suggest}"]`);
  button.addEventListener("click", () => suggest(button.dataset.suggest, box).catch((p) => { box.textContent = p.title || p.message; }));
}
