// One case: plain-language status, photos, the timeline; for the person it was given to,
// the field actions (acknowledge, report it fixed with an after photo, give it back).
import { cachedGet, photoURL } from "../api.js";
import * as outbox from "../outbox.js";
import { preparedPhotos } from "../photos.js";
import { describe, distanceText, h, locate, metresBetween, named, param, statusBadge, t, toast, view, when } from "../ui.js";
import { offlineNote } from "./reports.js";

const STEPS = {
  submit: "js:Reported",
  register: "js:Accepted by the command centre",
  reject: "js:Not accepted",
  merge: "js:Merged with another report",
  dispatch: "js:Assigned to the people responsible",
  acknowledge: "js:The people responsible took it on",
  return: "js:Given back to the command centre",
  suspend: "js:Put on hold",
  resume: "js:Work resumed",
  report_fixed: "js:Reported fixed",
  pass_check: "js:Checked and closed",
  fail_check: "js:Check failed: to be fixed again",
  fix_on_spot: "js:Fixed on the spot",
  reopen: "js:Reopened",
  relocate: "js:Position corrected",
  support: "js:Someone else reported it too",
};

// status each field action leads to (a repeat that finds it there is done already)
const FIELD_ACTIONS = { acknowledge: "in_progress", report_fixed: "pending_check", return: "registered" };

function photos(list) {
  if (!list.length) return null;
  return h(
    "div.gallery",
    {},
    list.map((p) => {
      const img = h("img", { alt: p.kind === "after" ? t("js:After the fix") : t("js:Photo") });
      photoURL(p.thumbnail_url).then((url) => (img.src = url)).catch(() => {});
      return h("figure", {}, img, h("figcaption", { text: p.kind === "after" ? t("js:after") : p.kind === "before" ? t("js:before") : "" }));
    }),
  );
}

function timeline(events) {
  return h(
    "ol.timeline",
    {},
    events.map((e) =>
      h(
        "li",
        {},
        // the field's own words for its steps, the staff's name for the others (a response)
        h("b", { text: STEPS[e.action] ? t(STEPS[e.action]) : named("case action", e.action) }),
        h("time", { text: when(e.at) }),
        e.note ? h("p", { text: e.note }) : null,
      ),
    ),
  );
}

async function act(report, action, fields = {}, blobs = [], meta = []) {
  const answer = await outbox.submit({
    kind: "action",
    label: `${t(STEPS[action])} · ${t("js:Case {id}", { id: report.id })}`,
    report_id: report.id,
    expect: FIELD_ACTIONS[action],
    body: { action, ...fields },
    photos: blobs,
    photos_meta: meta,
  });
  if (answer.sent) {
    toast(t("js:Done"), "ok");
    location.reload();
  } else if (answer.item && answer.item.status === "failed") {
    toast(answer.item.error, "error");
  } else {
    toast(t("js:Saved: it will be sent when the network returns."));
  }
}

function fieldActions(report) {
  const mine = report.actions.filter((a) => a in FIELD_ACTIONS);
  if (!mine.length) return null;
  const box = h("section.card.actions", {}, h("h2", { text: t("js:What you can do") }));
  if (mine.includes("acknowledge")) {
    box.append(
      h("button.primary", {
        type: "button",
        text: t("js:Take it on"),
        on: { click: (e) => ((e.target.disabled = true), act(report, "acknowledge")) },
      }),
    );
  }
  if (mine.includes("report_fixed")) {
    const after = preparedPhotos(); // shrunk on the phone, as a report's photos are
    const list = h("div.photos");
    const input = h("input", { type: "file", accept: "image/*", capture: "environment", id: "fixed-photo" });
    input.addEventListener("change", () => {
      after.add(input.files, () =>
        list.replaceChildren(...after.blobs.map((b) => h("figure.photo", {}, h("img", { src: URL.createObjectURL(b), alt: "" })))),
      );
      input.value = "";
    });
    const note = h("textarea", { rows: 2, maxlength: 2000, placeholder: t("js:What was done") });
    const error = h("p.error", { hidden: true });
    box.append(
      h(
        "form.form",
        {
          id: "fixed-form",
          on: {
            submit: async (event) => {
              event.preventDefault();
              const button = event.submitter;
              button.disabled = true;
              await after.ready();
              if (!after.blobs.length) {
                button.disabled = false;
                error.textContent = t("js:Add a photo after the fix.");
                error.hidden = false;
                return;
              }
              act(report, "report_fixed", { note: note.value.trim() }, after.blobs, after.meta);
            },
          },
        },
        h("h3", { text: t("js:Report it fixed") }),
        list,
        h("label.photo-button", {}, t("js:Photo after the fix"), input),
        h("label", {}, t("js:Note"), note),
        error,
        h("button.primary", { type: "submit", text: t("js:Send: fixed") }),
      ),
    );
  }
  if (mine.includes("return")) {
    const reason = h("input", { maxlength: 500, placeholder: t("js:Why it is not ours") });
    box.append(
      h(
        "form.form.inline",
        {
          on: {
            submit: (event) => {
              event.preventDefault();
              if (!reason.value.trim()) return;
              act(report, "return", { reason: reason.value.trim() });
            },
          },
        },
        reason,
        h("button.secondary", { type: "submit", text: t("js:Give back") }),
      ),
    );
  }
  return box;
}

const MAP_APPS = { amap: "js:Go there with AMap", baidu: "js:Go there with Baidu Maps" };

// How far the case is from the phone, in words; unknown (and why) without the position.
function distanceFromMe(r) {
  const line = h("p.distance", { id: "distance", text: t("js:Finding how far it is from you…") });
  locate({ timeout: 15000 })
    .then((here) => {
      line.textContent = t("js:{distance} from you", { distance: distanceText(metresBetween(here, r)) });
    })
    .catch((err) => {
      line.textContent = err.denied
        ? t("js:Distance from you unknown: this phone is not sharing its position.")
        : t("js:Distance from you unknown: your position could not be found.");
    });
  return line;
}

// Where it is and the way there: the server gives each map app's link in the datum it reads.
function wayThere(r) {
  return h(
    "section.card.way",
    { id: "way" },
    h("h2", { text: t("js:Getting there") }),
    distanceFromMe(r),
    r.navigation.length
      ? h(
          "div.nav-links",
          {},
          r.navigation.filter((link) => link.url.startsWith("https://")).map((link) =>
            h("a.button.secondary", {
              href: link.url,
              target: "_blank",
              rel: "noopener noreferrer",
              dataset: { app: link.app },
              text: t(MAP_APPS[link.app] || "js:Open in a map app"),
            }),
          ),
        )
      : null,
  );
}

export default async function () {
  const id = Number(param("id"));
  try {
    const answer = await cachedGet(`/api/v1/reports/${id}`);
    const r = answer.data;
    document.querySelector(".bar h1").textContent = t("js:Case {id}", { id: r.id });
    view(
      offlineNote(answer),
      h(
        "section.card",
        {},
        h("p.big-status", {}, statusBadge(r.status, r.status_text)),
        r.overdue ? h("p.warn", { text: t("js:Past its deadline") }) : null,
        h("p", { text: r.description || "—" }),
        h(
          "dl.facts",
          {},
          h("dt", { text: t("js:Kind") }),
          h("dd", { id: "category", text: r.category_text || "—" }),
          h("dt", { text: t("js:Where") }),
          h("dd", { text: `${r.grid.name}${r.township ? " · " + r.township.name : ""}` }),
          h("dt", { text: t("js:Reported") }),
          h("dd", { text: when(r.created_at) }),
          r.due_at ? h("dt", { text: t("js:Due") }) : null,
          r.due_at ? h("dd", { text: when(r.due_at) }) : null,
          r.supporters ? h("dt", { text: t("js:Also reported by") }) : null,
          r.supporters ? h("dd", { text: t("js:{n} people", { n: r.supporters }) }) : null,
        ),
        photos(r.photos),
      ),
      r.navigation && r.navigation.length ? wayThere(r) : null,
      fieldActions(r),
      h("section.card", {}, h("h2", { text: t("js:Progress") }), timeline(r.timeline)),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
