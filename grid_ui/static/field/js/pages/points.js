// Reward points: balance, this month against the cap, and what each entry was for.
import { cachedGet } from "../api.js";
import { describe, h, t, view, when } from "../ui.js";
import { offlineNote } from "./reports.js";

const REASONS = {
  registered: "js:Your report was accepted",
  confirmed: "js:The hazard you reported was dealt with",
  false_report: "js:A report was found false",
  duplicate: "js:Your report joined an earlier one",
  redeemed: "js:Redeemed",
};

export default async function () {
  try {
    const answer = await cachedGet("/api/v1/me/points?limit=50");
    const p = answer.data;
    view(
      offlineNote(answer),
      h(
        "section.card.points",
        {},
        h("p.balance", {}, h("b", { text: p.balance }), " ", t("js:points")),
        h("p.hint", { text: t("js:This month {n} of at most {cap}", { n: p.month_awarded, cap: p.monthly_cap }) }),
      ),
      p.entries.length
        ? h(
            "ul.entries",
            {},
            p.entries.map((e) =>
              h(
                "li",
                {},
                h(e.delta >= 0 ? "b.plus" : "b.minus", { text: (e.delta >= 0 ? "+" : "") + e.delta }),
                h(
                  "span",
                  {},
                  t(REASONS[e.reason] || e.reason),
                  e.report_id ? " · " : "",
                  e.report_id ? h("a", { href: `/app/case?id=${e.report_id}`, text: t("js:Case {id}", { id: e.report_id }) }) : "",
                  h("small", { text: when(e.created_at) }),
                ),
              ),
            ),
          )
        : h("p.empty", { text: t("js:No points yet: they come when your reports are accepted and dealt with.") }),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
