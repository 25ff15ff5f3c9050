// One patrol: check in at each checkpoint with position and photo, report or fix what is found,
// and finish with the patrol log. Check-ins and the log go through the outbox, so a patrol in
// a basement or up a hillside without a signal is sent when the phone is back online.
import { api, cachedGet } from "../api.js";
import * as outbox from "../outbox.js";
import { preparedPhotos } from "../photos.js";
import { describe, h, locate, metresBetween, param, positionText, t, toast, view, when } from "../ui.js";
import { offlineNote } from "./reports.js";
import { TASK_STATUS } from "./tasks.js";

let here = null;

function checkInForm(task, checkpoint, done) {
  const picked = preparedPhotos(); // shrunk on the phone, as a report's photos are
  const previews = h("div.photos");
  const where = h("p.position", { text: here ? positionText(here) : t("js:Finding your position…") });
  const input = h("input", { type: "file", accept: "image/*", capture: "environment" });
  input.addEventListener("change", () => {
    picked.add(input.files, () =>
      previews.replaceChildren(...picked.blobs.map((b) => h("figure.photo", {}, h("img", { src: URL.createObjectURL(b), alt: "" })))),
    );
    input.value = "";
  });
  const note = h("input", { maxlength: 2000, placeholder: t("js:Note (optional)") });
  const error = h("p.error", { hidden: true });
  const refresh = async () => {
    try {
      here = await locate();
      where.textContent = positionText(here);
      const d = metresBetween(here, checkpoint);
      if (d > checkpoint.radius_m) {
        where.textContent += " — " + t("js:{d} m from the checkpoint", { d: Math.round(d) });
      }
    } catch (err) {
      where.textContent = err.message;
    }
  };
  refresh();
  return h(
    "form.form.checkin",
    {
      on: {
        submit: async (event) => {
          event.preventDefault();
          if (!here) {
            error.textContent = t("js:Your position is needed. Tap “Locate me again”.");
            error.hidden = false;
            return;
          }
          event.submitter.disabled = true;
          await picked.ready();
          const answer = await outbox.submit({
            kind: "checkin",
            label: `${t("js:Check-in")} · ${checkpoint.name}`,
            task_id: task.id,
            checkpoint_id: checkpoint.id,
            body: {
              checkpoint_id: checkpoint.id,
              location: here,
              note: note.value.trim(),
              device_time: new Date().toISOString(),
            },
            photos: picked.blobs,
            photos_meta: picked.meta,
          });
          done(answer);
        },
      },
    },
    previews,
    h("label.photo-button", {}, t("js:Photo of the checkpoint"), input),
    where,
    h("button.link", { type: "button", text: t("js:Locate me again"), on: { click: refresh } }),
    note,
    error,
    h("button.primary", { type: "submit", text: t("js:Check in") }),
  );
}

// The task's status badge and its checkpoint rows, kept current without a reload: after a
// check-in, and when one that waited in the outbox is sent later.
const shown = { badge: null, rows: new Map(), waiting: new Set() };

function taskBadge(status) {
  return h(`span.status.t-${status}`, { id: "task-status", text: t(TASK_STATUS[status] || status) });
}

function showStatus(task, status) {
  task.status = status;
  const badge = taskBadge(status);
  if (shown.badge) shown.badge.replaceWith(badge);
  shown.badge = badge;
  return badge;
}

// The server's word on the task (it starts on the first check-in): badge and rows follow it.
async function refresh(task) {
  try {
    const fresh = await api(`/api/v1/tasks/${task.id}`);
    showStatus(task, fresh.status);
    for (const c of fresh.checkpoints) {
      const row = shown.rows.get(c.id);
      if (row && c.checked_in) row.checkedIn();
    }
  } catch (err) {
    // offline again: the outbox will send it, and this runs once more
  }
}

// A check-in that waited in the outbox has gone: show what the server made of it.
async function followOutbox(task) {
  const left = new Set(
    (await outbox.items()).filter((i) => i.kind === "checkin" && i.task_id === task.id).map((i) => i.checkpoint_id),
  );
  const gone = [...shown.waiting].filter((id) => !left.has(id));
  shown.waiting = left;
  if (gone.length) await refresh(task);
}

function checkpointRow(task, checkpoint, waiting) {
  const row = h("li.checkpoint", { dataset: { checkpoint: checkpoint.id } });
  shown.rows.set(checkpoint.id, {
    checkedIn: () => {
      if (checkpoint.checked_in && !waiting) return;
      checkpoint.checked_in = true;
      waiting = false;
      draw();
    },
  });
  const draw = (extra) => {
    const state = checkpoint.checked_in
      ? h("span.done", { text: "✓ " + t("js:Checked in") })
      : waiting
        ? h("span.waiting", { text: t("js:Waiting to be sent") })
        : null;
    const open = task.status === "scheduled" || task.status === "in_progress";
    row.replaceChildren(
      ...[
      h("div.cp-head", {}, h("b", { text: `${checkpoint.seq}. ${checkpoint.name}` }), state),
      extra || null,
      !checkpoint.checked_in && !waiting && open && !extra
        ? h("button.secondary", {
            type: "button",
            text: t("js:Check in here"),
            on: {
              click: () =>
                draw(
                  checkInForm(task, checkpoint, (answer) => {
                    if (answer.sent) {
                      checkpoint.checked_in = true;
                      // the first check-in starts the task: say so at once, then ask the server
                      if (task.status === "scheduled") showStatus(task, "in_progress");
                      refresh(task);
                      const result = answer.result || {};
                      if (result.flagged) {
                        toast(t("js:Checked in, {d} m from the checkpoint: marked for review", { d: Math.round(result.distance_m) }), "warn");
                      } else {
                        toast(t("js:Checked in"), "ok");
                      }
                      draw();
                    } else if (answer.item && answer.item.status === "failed") {
                      toast(answer.item.error, "error");
                      draw();
                    } else {
                      waiting = true;
                      shown.waiting.add(checkpoint.id);
                      toast(t("js:Saved: it will be sent when the network returns."));
                      draw();
                    }
                  }),
                ),
            },
          })
        : null,
      ].filter(Boolean),
    );
  };
  draw();
  return row;
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => location.reload(), 600);
}

async function finishForm(task) {
  const since = task.started_at || task.window_start;
  let mine = [];
  try {
    mine = (await api("/api/v1/me/reports?limit=50")).items.filter((r) => r.created_at >= since);
  } catch (err) {
    mine = [];
  }
  const number = (name, label) =>
    h("label.num", {}, label, h("input", { type: "number", name, min: 0, max: 100000, value: 0, inputmode: "numeric" }));
  const error = h("p.error", { hidden: true });
  return h(
    "form.form.card",
    {
      id: "finish-form",
      on: {
        submit: async (event) => {
          event.preventDefault();
          const form = event.target;
          event.submitter.disabled = true;
          const body = {
            households_visited: Number(form.households_visited.value || 0),
            issues_found: Number(form.issues_found.value || 0),
            fixed_on_spot: Number(form.fixed_on_spot.value || 0),
            hazard_report_ids: [...form.querySelectorAll("input[name=report]:checked")].map((i) => Number(i.value)),
            narrative: form.narrative.value.trim(),
            device_time: new Date().toISOString(),
          };
          const answer = await outbox.submit({
            kind: "finish",
            label: `${t("js:Patrol log")} · ${task.plan_name}`,
            task_id: task.id,
            body,
          });
          if (answer.sent) {
            toast(t("js:Patrol finished"), "ok");
            reloadSoon();
          } else if (answer.item && answer.item.status === "failed") {
            error.textContent = answer.item.error;
            error.hidden = false;
            event.submitter.disabled = false;
          } else {
            toast(t("js:Saved: it will be sent when the network returns."));
          }
        },
      },
    },
    h("h2", { text: t("js:Finish the patrol") }),
    h(
      "div.nums",
      {},
      number("households_visited", t("js:Households visited")),
      number("issues_found", t("js:Issues found")),
      number("fixed_on_spot", t("js:Fixed on the spot")),
    ),
    mine.length
      ? h(
          "fieldset",
          {},
          h("legend", { text: t("js:Hazards reported on this patrol") }),
          mine.map((r) =>
            h("label.check", {}, h("input", { type: "checkbox", name: "report", value: r.id, checked: true }), ` ${t("js:Case {id}", { id: r.id })} · ${r.description || r.category}`),
          ),
        )
      : null,
    h("label", {}, t("js:Patrol log"), h("textarea", { name: "narrative", rows: 3, maxlength: 5000, placeholder: t("js:What you saw and did") })),
    error,
    h("button.primary", { type: "submit", text: t("js:Finish patrol") }),
  );
}

function logView(task) {
  const log = task.log;
  if (!log) return null;
  return h(
    "section.card",
    {},
    h("h2", { text: t("js:Patrol log") }),
    h(
      "dl.facts",
      {},
      h("dt", { text: t("js:Households visited") }),
      h("dd", { text: log.households_visited }),
      h("dt", { text: t("js:Issues found") }),
      h("dd", { text: log.issues_found }),
      h("dt", { text: t("js:Fixed on the spot") }),
      h("dd", { text: log.fixed_on_spot }),
      h("dt", { text: t("js:Finished") }),
      h("dd", { text: when(task.finished_at) }),
    ),
    log.narrative ? h("p", { text: log.narrative }) : null,
    task.skipped_checkpoint_ids.length
      ? h("p.warn", { text: t("js:{n} checkpoints without a check-in", { n: task.skipped_checkpoint_ids.length }) })
      : null,
  );
}

export default async function () {
  const id = Number(param("id"));
  try {
    const answer = await cachedGet(`/api/v1/tasks/${id}`);
    const task = answer.data;
    const waiting = (await outbox.items()).filter((i) => i.kind === "checkin" && i.task_id === id);
    shown.waiting = new Set(waiting.map((i) => i.checkpoint_id));
    window.addEventListener("outbox", () => followOutbox(task));
    const queuedFinish = (await outbox.items()).some((i) => i.kind === "finish" && i.task_id === id);
    document.querySelector(".bar h1").textContent = task.plan_name;
    const open = task.status === "scheduled" || task.status === "in_progress";
    view(
      offlineNote(answer),
      h(
        "section.card",
        {},
        h("p", {}, showStatus(task, task.status)),
        h("p", { text: `${task.grid.name} · ${when(task.window_start)}–${when(task.window_end, { date: false })}` }),
        task.ordered ? h("p.hint", { text: t("js:Visit the checkpoints in order.") }) : null,
      ),
      h(
        "section.card",
        {},
        h("h2", { text: t("js:Checkpoints") }),
        h(
          "ol.checkpoints",
          {},
          task.checkpoints.map((c) => checkpointRow(task, c, waiting.some((i) => i.checkpoint_id === c.id))),
        ),
        open ? h("p", {}, h("a.button.secondary", { href: `/app/report?task=${task.id}`, text: t("js:Report or fix a hazard") })) : null,
      ),
      open && !queuedFinish ? await finishForm(task) : null,
      queuedFinish ? h("p.waiting", { text: t("js:The patrol log is waiting to be sent.") }) : null,
      logView(task),
    );
  } catch (err) {
    view(h("p.error", { text: describe(err) }));
  }
}
