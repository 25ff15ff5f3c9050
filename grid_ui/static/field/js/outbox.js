// The outbox: everything the person sends (reports, check-ins, patrol logs, case actions,
// acknowledgements) is first written to IndexedDB with its own idempotency key, then sent in
// order. With no network it waits and goes when the connection returns; the server answers a
// repeated key with the first result, so nothing is created twice. Photos wait as Blobs and
// are uploaded first; each uploaded photo's id is saved at once, so a retry resumes.
import { api, apiFull, ApiError, NetworkError, session, SignedOut } from "./api.js";
import { all, del, get, put } from "./store.js";
import { describe, uuid } from "./ui.js";

const channel = "BroadcastChannel" in self ? new BroadcastChannel("grid-field-outbox") : null;
const RETRY_MS = 20_000;
let timer = null;

function changed() {
  window.dispatchEvent(new CustomEvent("outbox"));
  if (channel) channel.postMessage("changed");
}
if (channel) channel.onmessage = () => window.dispatchEvent(new CustomEvent("outbox"));

export async function items() {
  const mine = await session();
  const list = await all("outbox");
  return list.filter((item) => !mine || item.account_id === mine.account.id);
}

export async function sent() {
  const list = await all("sent");
  return list.sort((a, b) => b.at - a.at).slice(0, 20);
}

// Keep one thing to send; `item` = {kind, label, ...fields of its kind}.
export async function enqueue(item) {
  const mine = await session();
  if (!mine) throw new SignedOut();
  const record = {
    key: uuid(),
    account_id: mine.account.id,
    created_at: new Date().toISOString(),
    status: "waiting",
    attempts: 0,
    error: null,
    ...item,
  };
  record.id = await put("outbox", record);
  changed();
  return record;
}

// Keep it, try to send it now; the server's answer, or null if it is still waiting.
export async function submit(item) {
  const record = await enqueue(item);
  await flush();
  const done = await get("sent", record.key);
  if (done) return { sent: true, result: done.result, replayed: done.replayed };
  const left = await get("outbox", record.id);
  return { sent: false, item: left };
}

export async function retry(id) {
  const item = await get("outbox", id);
  if (item) {
    item.status = "waiting";
    item.error = null;
    await put("outbox", item);
    changed();
  }
  return flush();
}

export async function discard(id) {
  await del("outbox", id);
  changed();
}

async function upload(blob, key) {
  const form = new FormData();
  form.append("file", blob, blob.name || "photo.jpg");
  // the same bytes are stored once, so a repeated upload returns the same photo id
  const photo = await api("/api/v1/media", {
    method: "POST",
    body: form,
    headers: { "Idempotency-Key": key },
  });
  return photo.id;
}

// Upload the photos of `field` not uploaded yet; their ids go to `idsField` as they come.
async function uploadAll(item, field, idsField) {
  const blobs = item[field] || [];
  item[idsField] = item[idsField] || [];
  for (let i = item[idsField].length; i < blobs.length; i += 1) {
    item[idsField].push(await upload(blobs[i], `${item.key}-${field}-${i}`));
    await put("outbox", item);
  }
  return item[idsField];
}

const senders = {
  async report(item) {
    if (!item.report) {
      const photoIds = await uploadAll(item, "photos", "photo_ids");
      const answer = await apiFull("/api/v1/reports", {
        method: "POST",
        json: { ...item.body, photo_ids: photoIds, client_id: item.key },
        headers: { "Idempotency-Key": item.key },
      });
      item.report = answer.data;
      item.replayed = answer.status === 200;
      await put("outbox", item);
    }
    if (item.fix && !item.fixed) {
      const after = await uploadAll(item, "after_photos", "after_ids");
      try {
        item.report = await api(`/api/v1/reports/${item.report.id}/actions`, {
          method: "POST",
          json: {
            action: "fix_on_spot",
            note: item.fix.note || "",
            before_photo_ids: item.photo_ids,
            photo_ids: after,
          },
        });
      } catch (err) {
        if (!(await reached(err, item.report.id, "pending_check"))) throw err;
      }
      item.fixed = true;
    }
    return item.report;
  },

  async checkin(item) {
    await api(`/api/v1/tasks/${item.task_id}/start`, {
      method: "POST",
      json: { device_time: item.body.device_time },
    });
    const photoIds = await uploadAll(item, "photos", "photo_ids");
    const answer = await apiFull(`/api/v1/tasks/${item.task_id}/check-ins`, {
      method: "POST",
      json: { ...item.body, photo_ids: photoIds, client_id: item.key },
      headers: { "Idempotency-Key": item.key },
    });
    return answer.data;
  },

  async finish(item) {
    // a repeated finish returns the finished task
    return api(`/api/v1/tasks/${item.task_id}/finish`, { method: "POST", json: item.body });
  },

  async action(item) {
    const photoIds = await uploadAll(item, "photos", "photo_ids");
    const body = { ...item.body };
    if (photoIds.length) body.photo_ids = photoIds;
    try {
      return await api(`/api/v1/reports/${item.report_id}/actions`, { method: "POST", json: body });
    } catch (err) {
      // sent before but the answer was lost: the case is already where this action leads
      if (await reached(err, item.report_id, item.expect)) {
        return api(`/api/v1/reports/${item.report_id}`);
      }
      throw err;
    }
  },

  async ack(item) {
    return api(`/api/v1/callouts/${item.callout_id}/ack`, { method: "POST" });
  },

  async support(item) {
    return api(`/api/v1/reports/${item.report_id}/support`, { method: "POST" });
  },
};

async function reached(err, reportId, status) {
  if (!(err instanceof ApiError) || err.status !== 409 || !status) return false;
  const now = await api(`/api/v1/reports/${reportId}`);
  return now.status === status;
}

let flushing = null;

// Send what waits, oldest first. Stops at the first network failure (the rest would fail
// too); a refusal by the server marks that item failed, with the reason, and goes on.
export function flush() {
  if (!flushing) {
    const run = () => sendAll();
    flushing = (navigator.locks ? navigator.locks.request("grid-field-outbox", run) : run()).finally(
      () => (flushing = null),
    );
  }
  return flushing;
}

async function sendAll() {
  const mine = await session();
  if (!mine) return { stopped: "signed_out" };
  const queue = (await items()).filter((i) => i.status !== "failed").sort((a, b) => a.id - b.id);
  for (const item of queue) {
    item.status = "sending";
    item.attempts += 1;
    await put("outbox", item);
    changed();
    try {
      const result = await senders[item.kind](item);
      await put("sent", {
        key: item.key,
        kind: item.kind,
        label: item.label,
        at: Date.now(),
        result: summary(item.kind, result),
        replayed: Boolean(item.replayed),
      });
      await del("outbox", item.id);
      changed();
    } catch (err) {
      const later = err instanceof NetworkError || err instanceof SignedOut || err.transient;
      item.status = later ? "waiting" : "failed";
      item.error = later ? null : describe(err);
      await put("outbox", item);
      changed();
      if (later) {
        schedule();
        return { stopped: err instanceof SignedOut ? "signed_out" : "offline" };
      }
    }
  }
  return { stopped: null };
}

// What the page needs to show afterwards; not the whole answer.
function summary(kind, result) {
  if (!result) return null;
  if (kind === "report" || kind === "action") {
    return {
      id: result.id,
      status: result.status,
      status_text: result.status_text,
      possible_duplicates: result.possible_duplicates || [],
    };
  }
  if (kind === "checkin") {
    return { id: result.id, flagged: result.flagged, distance_m: result.distance_m };
  }
  return { id: result.id ?? result.callout_id ?? result.report_id ?? null };
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    if (navigator.onLine) flush();
  }, RETRY_MS);
}

// Items left in the "sending" state by a closed page are waiting again.
export async function recover() {
  for (const item of await all("outbox")) {
    if (item.status === "sending") {
      item.status = "waiting";
      await put("outbox", item);
    }
  }
}

export function start() {
  window.addEventListener("online", () => flush());
  recover().then(() => {
    if (navigator.onLine) flush();
  });
  setInterval(async () => {
    if (navigator.onLine && (await items()).some((i) => i.status === "waiting")) flush();
  }, RETRY_MS);
}
