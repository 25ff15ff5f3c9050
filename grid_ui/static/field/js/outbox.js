// The outbox: everything the person sends (reports, check-ins, patrol logs, case actions,
// acknowledgements) is first written to IndexedDB with its own idempotency key, then sent in
// order. With no network it waits and goes when the connection returns; the server answers a
// repeated key with the first result, so nothing is created twice. Photos wait as Blobs and
// are uploaded first; each uploaded photo's id is saved at once, so a retry resumes.
// Photos are queued already shrunk (photos.js), with what the phone read from their EXIF in
// `<field>_meta`; a staff member's originals wait beside them in `<field>_originals` and go
// instead when the phone is on Wi-Fi. The bytes sent of the item on its way are announced as
// "outbox-progress" events (this tab and the others).
import { api, apiFull, ApiError, NetworkError, session, SignedOut, upload as sendForm } from "./api.js";
import { onWifi } from "./photos.js";
import { all, del, get, put } from "./store.js";
import { describe, uuid } from "./ui.js";

const channel = "BroadcastChannel" in self ? new BroadcastChannel("grid-field-outbox") : null;
const RETRY_MS = 20_000;
let timer = null;

function changed() {
  window.dispatchEvent(new CustomEvent("outbox"));
  if (channel) channel.postMessage("changed");
}

// key → {sent, total} bytes of the photos of the item being sent
const progress = new Map();

export function progressOf(key) {
  return progress.get(key) || null;
}

function announce(key, value, { broadcast = true } = {}) {
  if (value) progress.set(key, value);
  else progress.delete(key);
  window.dispatchEvent(new CustomEvent("outbox-progress", { detail: { key, ...(value || {}) } }));
  if (broadcast && channel) channel.postMessage({ progress: { key, value } });
}

if (channel) {
  channel.onmessage = (event) => {
    const message = event.data;
    if (message && message.progress) announce(message.progress.key, message.progress.value, { broadcast: false });
    else window.dispatchEvent(new CustomEvent("outbox"));
  };
}

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

const META_FIELDS = { gps_lat: "phone_gps_lat", gps_lng: "phone_gps_lng", captured_at: "phone_captured_at" };
const ID_FIELDS = { photos: "photo_ids", after_photos: "after_ids" };

// The copy of photo i of `field` to send now: the original on Wi-Fi if one was kept for it.
function chosen(item, field, i) {
  const originals = item[`${field}_originals`] || [];
  return (originals[i] && onWifi() && originals[i]) || item[field][i];
}

async function upload(blob, key, meta, onProgress) {
  const form = new FormData();
  form.append("file", blob, blob.name || "photo.jpg");
  // what the phone read from the original's EXIF: the shrunk copy has none left
  for (const [name, field] of Object.entries(META_FIELDS)) {
    if (meta && meta[name] !== undefined && meta[name] !== null) form.append(field, String(meta[name]));
  }
  // the same bytes are stored once, so a repeated upload returns the same photo id
  const photo = await sendForm("/api/v1/media", form, { headers: { "Idempotency-Key": key }, onProgress });
  return photo.id;
}

// The bytes of an item's photos, and how many of them went up already.
function measure(item) {
  let total = 0;
  let sent = 0;
  for (const [field, idsField] of Object.entries(ID_FIELDS)) {
    const done = (item[idsField] || []).length;
    (item[field] || []).forEach((_, i) => {
      const size = chosen(item, field, i).size || 0;
      total += size;
      if (i < done) sent += size;
    });
  }
  return { sent, total };
}

// Upload the photos of `field` not uploaded yet; their ids go to `idsField` as they come.
async function uploadAll(item, field, idsField) {
  const blobs = item[field] || [];
  const meta = item[`${field}_meta`] || [];
  item[idsField] = item[idsField] || [];
  for (let i = item[idsField].length; i < blobs.length; i += 1) {
    const blob = chosen(item, field, i);
    const before = measure(item);
    const onProgress = (loaded) => announce(item.key, { sent: before.sent + Math.min(loaded, blob.size), total: before.total });
    item[idsField].push(await upload(blob, `${item.key}-${field}-${i}`, meta[i], onProgress));
    await put("outbox", item);
    announce(item.key, measure(item));
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

  // a household's status in an evacuation; a linked resident's answer (the key makes a
  // repeat answer with the first event)
  async evacuation(item) {
    const url = `/api/v1/evacuations/${item.evacuation_id}/households/${item.household_id}/status`;
    return api(url, { method: "POST", json: { ...item.body, client_id: item.key }, headers: { "Idempotency-Key": item.key } });
  },

  async answer(item) {
    const url = `/api/v1/evacuations/${item.evacuation_id}/my-household/answer`;
    return api(url, { method: "POST", json: { ...item.body, client_id: item.key }, headers: { "Idempotency-Key": item.key } });
  },

  async support(item) {
    return api(`/api/v1/reports/${item.report_id}/support`, { method: "POST" });
  },

  // a photo an SOS's sender took after the call (the call itself needs none)
  async sos_photo(item) {
    const photoIds = await uploadAll(item, "photos", "photo_ids");
    return api(`/api/v1/sos/${item.report_id}/photos`, { method: "POST", json: { photo_ids: photoIds } });
  },

  async sos(item) {
    try {
      const answer = await apiFull("/api/v1/sos", {
        method: "POST",
        json: { ...item.body, client_id: item.key },
        headers: { "Idempotency-Key": item.key },
      });
      item.replayed = answer.status === 200;
      return answer.data;
    } catch (err) {
      // the account's SOS limit is no passing trouble: refused now, with the server's reason,
      // rather than tried again every 20 s
      if (err instanceof ApiError && err.status === 429) Object.defineProperty(err, "transient", { value: false });
      throw err;
    }
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
  // a call for help first, then the rest oldest first
  const urgency = (i) => (i.kind === "sos" ? 0 : 1);
  const queue = (await items())
    .filter((i) => i.status !== "failed")
    .sort((a, b) => urgency(a) - urgency(b) || a.id - b.id);
  for (const item of queue) {
    item.status = "sending";
    item.attempts += 1;
    await put("outbox", item);
    changed();
    if (measure(item).total) announce(item.key, measure(item));
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
      announce(item.key, null);
      changed();
    } catch (err) {
      const later = err instanceof NetworkError || err instanceof SignedOut || err.transient;
      item.status = later ? "waiting" : "failed";
      item.error = later ? null : describe(err);
      await put("outbox", item);
      announce(item.key, null);
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
  if (kind === "sos") {
    const { id, status, grid_name, cancel_until, cancellable, alerted } = result;
    return { id, status, grid_name, cancel_until, cancellable, alerted };
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

// Items left in the "sending" state by a closed page are waiting again. Not while another tab
// holds the outbox lock: its item is really on its way, and rewriting it could bring it back
// after that tab removed it.
export async function recover() {
  const run = async (lock) => {
    if (lock === null) return;
    for (const item of await all("outbox")) {
      if (item.status === "sending") {
        item.status = "waiting";
        await put("outbox", item);
      }
    }
  };
  if (navigator.locks) return navigator.locks.request("grid-field-outbox", { ifAvailable: true }, run);
  return run(true);
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
