// One-tap SOS (一键呼救) on the home page. Only a deliberate gesture sends it: the button held
// for 2 s (a finger, a mouse, or Space/Enter held down), with the ring filling meanwhile; let
// go earlier and nothing happens. The call goes through the outbox like any report, so with
// no signal it waits on the phone and leaves, once, when the connection returns. Its sender
// may call it off as a false alarm for a minute.
import { api, NetworkError } from "./api.js";
import * as outbox from "./outbox.js";
import { prepare } from "./photos.js";
import { get } from "./store.js";
import { $, describe, english, locate, t } from "./ui.js";

const HOLD_MS = 2000;
const KEYS = new Set([" ", "Enter"]);
const EMERGENCY = () => t("js:If you are in danger, also call 110, 119 or 120.");

// Sentences one after the other: a space between English ones, none after a Chinese "。".
function joined(...parts) {
  return parts.filter(Boolean).join(english() ? " " : "");
}

// A refusal, with the emergency numbers unless the server's reason gives them already.
function refused(reason) {
  return reason.includes("110") ? reason : joined(reason, EMERGENCY());
}

let waitingKey = null; // the outbox key of an SOS kept offline, until it is sent
let countdown = null;

function live(text) {
  $("#sos-live").textContent = text;
}

function show(kind, title, detail) {
  const box = $("#sos-result");
  box.className = `sos-result card ${kind}`;
  $("#sos-state").textContent = title;
  $("#sos-detail").textContent = detail;
  $("#sos-cancel").hidden = true;
  $("#sos-photo").hidden = true;
  clearInterval(countdown);
  box.hidden = false;
  live(`${title} ${detail}`);
}

// Sent: who was alerted, and the cancel button with the seconds left to use it.
function sent(result) {
  const detail =
    result.alerted > 0
      ? t("js:Case #{id} in {grid}: {n} responders and duty officers alerted.", {
          id: result.id,
          grid: result.grid_name,
          n: result.alerted,
        })
      : t("js:Case #{id} in {grid}: nobody is on duty there right now; the command centre sees it.", {
          id: result.id,
          grid: result.grid_name,
        });
  show("sent", t("js:SOS sent: help is being alerted"), joined(detail, EMERGENCY()));
  const button = $("#sos-cancel");
  const until = Date.parse(result.cancel_until);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0 || !result.cancellable) {
      button.hidden = true;
      clearInterval(countdown);
      return;
    }
    button.textContent = t("js:Cancel: it was a false alarm ({s} s)", { s: left });
    button.setAttribute("aria-label", t("js:Cancel the SOS: it was a false alarm. {s} seconds left.", { s: left }));
  };
  button.onclick = () => cancel(result);
  button.hidden = false;
  tick();
  countdown = setInterval(tick, 1000);
  offerPhoto(result);
}

// One may follow the call: a photo goes through the outbox (with no signal it waits and
// goes once), added to the case for the responders.
function offerPhoto(result) {
  const label = $("#sos-photo");
  const input = $("#sos-photo-input");
  const state = $("#sos-photo-state");
  label.hidden = false;
  input.onchange = async () => {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    state.textContent = t("js:Sending the photo…");
    try {
      const photo = await prepare(file);
      const answer = await outbox.submit({
        kind: "sos_photo",
        label: t("js:Photo for SOS #{id}", { id: result.id }),
        report_id: result.id,
        photos: [photo.blob],
        photos_meta: [photo.meta || {}],
      });
      if (answer.sent) state.textContent = "✓ " + t("js:Photo sent to the responders.");
      else if (answer.item && answer.item.status === "failed") state.textContent = answer.item.error;
      else state.textContent = t("js:Queued: will be sent when online");
    } catch (err) {
      state.textContent = describe(err);
    }
  };
}

async function cancel(result) {
  const button = $("#sos-cancel");
  button.disabled = true;
  try {
    const done = await api(`/api/v1/sos/${result.id}/cancel`, { method: "POST" });
    show(
      "cancelled",
      t("js:SOS cancelled"),
      t("js:The {n} people alerted have been told it was a false alarm.", { n: done.told_of_cancel }),
    );
  } catch (err) {
    const lost = err instanceof NetworkError;
    show(
      "failed",
      t("js:The SOS was not cancelled"),
      lost ? t("js:No connection: the responders are still on their way. Call them if you are safe.") : describe(err),
    );
  } finally {
    button.disabled = false;
  }
}

async function send() {
  show("sending", t("js:Calling for help…"), t("js:Finding your position…"));
  let position;
  try {
    position = await locate({ timeout: 15000 });
  } catch (err) {
    show("failed", t("js:SOS not sent"), refused(err.message));
    return;
  }
  let answer = await outbox.submit({
    kind: "sos",
    label: t("js:SOS call"),
    body: { location: position, captured_at: new Date().toISOString() },
  });
  if (!answer.sent && answer.item && answer.item.status === "waiting" && navigator.onLine) {
    // a send that had started before this call was kept did not take it: once more
    await outbox.flush();
    const done = await get("sent", answer.item.key);
    answer = done ? { sent: true, result: done.result } : { sent: false, item: (await get("outbox", answer.item.id)) || answer.item };
  }
  if (answer.sent) {
    sent(answer.result);
  } else if (answer.item && answer.item.status === "failed") {
    show("failed", t("js:SOS not sent"), refused(answer.item.error || ""));
    await outbox.discard(answer.item.id); // refused for good: not to be sent later by itself
  } else {
    waitingKey = answer.item ? answer.item.key : null;
    show(
      "queued",
      t("js:No signal: your SOS is saved on this phone"),
      joined(t("js:It goes the moment the phone is back online."), EMERGENCY()),
    );
  }
}

// An SOS kept offline went out (this tab or another): show its answer.
async function arrived() {
  if (!waitingKey) return;
  const done = await get("sent", waitingKey);
  if (done && done.result) {
    waitingKey = null;
    sent(done.result);
  }
}

export function start() {
  const button = $("#sos-button");
  button.disabled = false; // usable before the rest of the page has loaded
  let timer = null;
  const begin = () => {
    if (timer || button.disabled) return;
    button.classList.add("holding");
    live(t("js:Keep holding to call for help…"));
    timer = setTimeout(fire, HOLD_MS);
  };
  const end = () => {
    if (!timer) return;
    clearTimeout(timer);
    timer = null;
    button.classList.remove("holding");
    live(t("js:Not sent: hold the button for 2 seconds to call for help."));
  };
  async function fire() {
    timer = null;
    button.classList.remove("holding");
    button.disabled = true;
    try {
      await send();
    } catch (err) {
      show("failed", t("js:SOS not sent"), refused(describe(err)));
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    if (button.setPointerCapture) button.setPointerCapture(event.pointerId);
    begin();
  });
  for (const name of ["pointerup", "pointercancel", "blur"]) button.addEventListener(name, end);
  button.addEventListener("contextmenu", (event) => event.preventDefault()); // a long press
  button.addEventListener("keydown", (event) => {
    if (!KEYS.has(event.key)) return;
    event.preventDefault(); // no click: the hold decides
    if (!event.repeat) begin();
  });
  button.addEventListener("keyup", (event) => {
    if (!KEYS.has(event.key)) return;
    event.preventDefault();
    end();
  });
  window.addEventListener("outbox", () => arrived().catch(() => {}));
}

