// What waits on this phone to be sent, what was refused and why, and what went lately.
import * as outbox from "../outbox.js";
import { byteSize } from "../photos.js";
import { $, h, t, view, when } from "../ui.js";

const STATE = {
  waiting: "js:Waiting for the network",
  sending: "js:Sending…",
  failed: "js:Not accepted",
};

// "340 KB of 610 KB" and a bar, for the item whose photos are going up.
function progressOf(item) {
  const going = outbox.progressOf(item.key);
  if (!going || !going.total) return null;
  return h(
    "span.q-progress",
    { dataset: { progress: item.key } },
    h("progress", { max: going.total, value: going.sent }),
    h("span", { text: t("js:{sent} of {total} sent", { sent: byteSize(going.sent), total: byteSize(going.total) }) }),
  );
}

// Progress moves many times a second: update the bar in place instead of redrawing the list.
function moved(event) {
  const { key, sent, total } = event.detail;
  const node = document.querySelector(`[data-progress="${CSS.escape(key)}"]`);
  if (!node || !total) return draw(); // started or finished: the item's state changes too
  node.querySelector("progress").max = total;
  node.querySelector("progress").value = sent;
  node.querySelector("span").textContent = t("js:{sent} of {total} sent", { sent: byteSize(sent), total: byteSize(total) });
  return null;
}

async function draw() {
  const list = (await outbox.items()).sort((a, b) => a.id - b.id);
  const done = await outbox.sent();
  view(
    list.length
      ? h(
          "ul.queue",
          {},
          list.map((item) =>
            h(
              `li.q-${item.status}`,
              { dataset: { key: item.key } },
              h("b", { text: item.label }),
              h("span.state", { text: t(STATE[outbox.progressOf(item.key) ? "sending" : item.status]) }),
              h("small", {
                text: `${when(item.created_at)}${(item.photos || []).length ? " · " + t("js:{n} photos", { n: item.photos.length }) : ""}`,
              }),
              item.error ? h("p.error", { text: item.error }) : null,
              progressOf(item),
              item.status === "waiting" && !outbox.progressOf(item.key)
                ? h(
                    "p.row",
                    {},
                    h("button.secondary", { type: "button", text: t("js:Try again now"), on: { click: () => outbox.retry(item.id) } }),
                  )
                : null,
              item.status === "failed"
                ? h(
                    "p.row",
                    {},
                    h("button.secondary", { type: "button", text: t("js:Try again"), on: { click: () => outbox.retry(item.id) } }),
                    h("button.link", {
                      type: "button",
                      text: t("js:Discard"),
                      on: { click: () => confirm(t("js:Discard it for good?")) && outbox.discard(item.id) },
                    }),
                  )
                : null,
            ),
          ),
        )
      : h("p.empty", { id: "queue-empty", text: t("js:Nothing is waiting. Everything was sent.") }),
    done.length
      ? h(
          "section.sent",
          {},
          h("h2", { text: t("js:Sent lately") }),
          h(
            "ul.queue",
            {},
            done.map((d) =>
              h(
                "li.q-sent",
                {},
                h("b", { text: d.label }),
                h("span.state", { text: t("js:Sent") }),
                h("small", { text: when(new Date(d.at).toISOString()) }),
                d.kind === "report" && d.result ? h("a", { href: `/app/case?id=${d.result.id}`, text: t("js:Case {id}", { id: d.result.id }) }) : null,
              ),
            ),
          ),
        )
      : null,
  );
}

export default async function () {
  window.addEventListener("outbox", draw);
  window.addEventListener("outbox-progress", moved);
  $("#send-now").addEventListener("click", () => outbox.flush());
  await draw();
}
