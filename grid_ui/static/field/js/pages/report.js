// Report a hazard: photos from the camera, the browser's position (WGS-84) with its accuracy,
// category, description, "I am safe"; grid staff may say they fixed it on the spot. The form
// is kept as a draft on the phone until it is sent; sending goes through the outbox. Photos are
// shrunk as they are picked (photos.js), with their EXIF time and position read first.
import { api, cachedGet } from "../api.js";
import * as outbox from "../outbox.js";
import { byteSize, originalsOnWifi, prepare, setOriginalsOnWifi } from "../photos.js";
import { kv } from "../store.js";
import { $, describe, english, h, locate, named, param, positionText, showError, t, toast } from "../ui.js";

const DRAFT = "draft:report";
const MAX_PHOTOS = 9;
const state = { photos: [], after: [], position: null };

async function categories() {
  const select = $("#category");
  let list = [];
  try {
    list = (await cachedGet("/api/v1/config")).data.categories;
  } catch (err) {
    list = [];
  }
  const groups = new Map();
  for (const c of list) {
    if (!groups.has(c.group)) groups.set(c.group, []);
    groups.get(c.group).push(c);
  }
  select.replaceChildren(h("option", { value: "", text: t("js:Choose…") }));
  for (const [group, members] of groups) {
    const node = h("optgroup", { label: named("category group", group) });
    for (const c of members) node.append(h("option", { value: c.code, text: english() ? c.name_en : c.name_zh }));
    select.append(node);
  }
}

// A kept photo: {blob, meta, original?}; drafts from before photos were shrunk hold bare Blobs.
function kept(photo) {
  return photo instanceof Blob ? { blob: photo, meta: {} } : photo;
}

// replaceChildren() writes a null child as the text "null": leave absent parts out.
function fill(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}

function previews(list, container, onChange) {
  container.replaceChildren(
    ...list.map((photo, index) => {
      const url = URL.createObjectURL(photo.blob);
      return h(
        "figure.photo",
        {},
        h("img", { src: url, alt: t("js:Photo {n}", { n: index + 1 }) }),
        h("button.remove", {
          type: "button",
          text: "×",
          "aria-label": t("js:Remove photo"),
          on: {
            click: () => {
              list.splice(index, 1);
              onChange();
            },
          },
        }),
      );
    }),
  );
}

function render() {
  previews(state.photos, $("#photos"), changed);
  previews(state.after, $("#after-photos"), changed);
  $("#photo-input").closest("label").hidden = state.photos.length >= MAX_PHOTOS;
}

function changed() {
  render();
  saveDraft();
}

async function saveDraft() {
  const form = $("#report-form");
  await kv.set(DRAFT, {
    category: form.category.value,
    description: form.description.value,
    urgent: form.urgent.checked,
    safe: form.safe ? form.safe.value : "",
    fixed: $("#fixed").checked,
    photos: state.photos,
    after: state.after,
  });
}

async function restoreDraft() {
  const draft = await kv.get(DRAFT);
  if (!draft) return;
  const form = $("#report-form");
  form.category.value = draft.category || "";
  form.description.value = draft.description || "";
  form.urgent.checked = Boolean(draft.urgent);
  for (const radio of form.querySelectorAll("input[name=safe]")) radio.checked = radio.value === draft.safe;
  $("#fixed").checked = Boolean(draft.fixed);
  $("#after-box").hidden = !draft.fixed;
  state.photos = (draft.photos || []).map(kept);
  state.after = (draft.after || []).map(kept);
  if (state.photos.length || draft.description) toast(t("js:Your unsent draft was kept."));
}

async function position() {
  const node = $("#position");
  node.classList.remove("bad");
  node.textContent = t("js:Finding your position…");
  try {
    state.position = await locate();
    node.textContent = positionText(state.position);
    node.classList.toggle("bad", state.position.accuracy_m > 100);
    if (state.position.accuracy_m > 100) {
      node.textContent += " — " + t("js:not precise; move outdoors and locate again");
    }
  } catch (err) {
    state.position = null;
    node.textContent = err.message;
    node.classList.add("bad");
  }
}

// Opened from a QR code at a risk point or grid (/q/{token} sends the phone here): the code's
// place is the report's position and its category is chosen; "Locate me again" still asks the
// phone. The token goes with the report, which the server then records as made from the code.
function fromCode() {
  const token = param("qr");
  if (!token) return false;
  state.qr = token;
  const category = param("category");
  const select = $("#category");
  if (category && [...select.options].some((o) => o.value === category)) select.value = category;
  const lat = Number(param("lat"));
  const lng = Number(param("lng"));
  if (!param("lat") || !param("lng") || !Number.isFinite(lat) || !Number.isFinite(lng)) return false;
  state.position = { lat, lng, datum: "wgs84", source: "qr" };
  $("#position").textContent = t("js:Place from the code: {place}", { place: param("place") || "" });
  return true;
}

function check(form, staff) {
  if (!state.photos.length) return t("js:Take at least one photo.");
  if (!state.position) return t("js:Your position is needed. Tap “Locate me again”.");
  if (!form.category.value) return t("js:Choose what kind of hazard it is.");
  if (!staff && !form.safe.value) return t("js:Tell us whether you are in a safe place.");
  if (staff && $("#fixed").checked && !state.after.length) return t("js:Add a photo after the fix.");
  return null;
}

// One offered case: only what the server lets this person see of it (category, words for its
// status, description, when, how far; its photo only when the photo rules allow).
function offerCard(d) {
  const option = [...($("#category")?.options || [])].find((o) => o.value === d.category);
  const img = h("img.thumb", { alt: t("js:Photo") });
  const picture = d.thumbnail_url ? img : h("span.thumb.none", { "aria-hidden": "true" });
  if (d.thumbnail_url) {
    import("../api.js")
      .then(({ photoURL }) => photoURL(d.thumbnail_url))
      .then((url) => (img.src = url))
      .catch(() => img.replaceWith(h("span.thumb.none", { "aria-hidden": "true" })));
  }
  const time = h("time", {});
  if (d.created_at) import("../ui.js").then(({ when }) => (time.textContent = when(d.created_at)));
  const metres = Math.round(d.distance_m ?? 0);
  const distance = metres < 1000
    ? t("js:{n} m away", { n: metres })
    : t("js:{n} km away", { n: (metres / 1000).toFixed(1) });
  return h(
    "div.dup",
    { dataset: { case: String(d.id) } },
    picture,
    h(
      "div.dup-body",
      {},
      h("p.dup-title", {}, h("b", { text: option ? option.textContent : t("js:Hazard") }), " · ", d.status_text || ""),
      d.description ? h("p.dup-desc", { text: d.description }) : null,
      h("p.meta", {}, t("js:Case {id}", { id: d.id }), " · ", time, " · ", h("span.distance", { text: distance })),
    ),
    h("button.secondary", {
      type: "button",
      text: t("js:Me too"),
      on: {
        click: async (event) => {
          event.target.disabled = true;
          try {
            const answer = await api(`/api/v1/reports/${d.id}/support`, { method: "POST" });
            event.target.textContent = t("js:Supported ({n})", { n: answer.supporters });
          } catch (err) {
            event.target.disabled = false;
            toast(describe(err), "error");
          }
        },
      },
    }),
  );
}

function duplicates(list) {
  if (!list.length) return null;
  return h(
    "div.duplicates",
    {},
    h("h3", { text: t("js:Similar open cases nearby") }),
    h("p.hint", { text: t("js:If it is the same hazard, say “me too” on it: it helps it get fixed sooner.") }),
    ...list.map(offerCard),
  );
}

// Before sending, while online: open cases of the same kind nearby are offered first, so a
// resident can say "me too" instead of filing the same hazard again. A slow or failed check
// never holds the report back.
async function offerDuplicatesFirst(form, body) {
  if (state.checked || !navigator.onLine) return false;
  state.checked = true;
  let found = [];
  try {
    const ask = api("/api/v1/reports/possible-duplicates", {
      method: "POST",
      json: { category: body.category, location: body.location },
    });
    const late = new Promise((resolve) => setTimeout(() => resolve([]), 4000));
    found = (await Promise.race([ask, late])) || [];
  } catch {
    return false;
  }
  if (!found.length) return false;
  const box = $("#precheck");
  fill(
    box,
    duplicates(found),
    h("button.primary", {
      type: "button",
      id: "send-anyway",
      text: t("js:It is a different hazard: send my report"),
      on: { click: () => form.requestSubmit() },
    }),
  );
  box.hidden = false;
  box.scrollIntoView({ block: "start" });
  return true;
}

function showResult(answer) {
  const result = $("#result");
  $("#report-form").hidden = true;
  result.hidden = false;
  if (answer.sent) {
    const report = answer.result;
    fill(
      result,
      h("h2.ok", { text: t("js:Sent. Thank you!") }),
      h("p", {}, t("js:Case {id}", { id: report.id }), " · ", h("span.status", { text: report.status_text })),
      h("p", {}, h("a.button", { href: `/app/case?id=${report.id}`, text: t("js:Follow this case") })),
      duplicates(report.possible_duplicates || []),
      h("p", {}, h("a", { href: "/app/report", text: t("js:Report another hazard") })),
      backToPatrol(),
    );
  } else {
    const failed = answer.item && answer.item.status === "failed";
    fill(
      result,
      h(failed ? "h2.bad" : "h2.waiting", {
        text: failed ? t("js:The report was not accepted") : t("js:Saved on this phone"),
      }),
      h("p", {
        text: failed
          ? answer.item.error || t("js:The server refused it.")
          : t("js:There is no connection now. The report will be sent by itself when the network returns."),
      }),
      h("p", {}, h("a.button", { href: "/app/outbox", text: t("js:See what is waiting") })),
      backToPatrol(),
    );
  }
}

// The outbox fields of a list of kept photos: the copies to send, what the phone read from
// each, and the originals kept for Wi-Fi (staff who asked for them).
function photoFields(field, list) {
  const photos = list.map(kept);
  const fields = { [field]: photos.map((p) => p.blob), [`${field}_meta`]: photos.map((p) => p.meta || {}) };
  if (photos.some((p) => p.original)) fields[`${field}_originals`] = photos.map((p) => p.original || null);
  return fields;
}

// Under the send button while the photos go up: how much of them has gone.
function sendingProgress({ sent, total }) {
  const node = $("#send-progress");
  if (!node || total === undefined || $("#report-form").hidden) return;
  node.hidden = false;
  node.querySelector("progress").max = total || 1;
  node.querySelector("progress").value = sent || 0;
  node.querySelector("span").textContent = t("js:Sending photos: {sent} of {total}", { sent: byteSize(sent), total: byteSize(total) });
}

function backToPatrol() {
  const task = param("task");
  return task ? h("p", {}, h("a.button.primary", { id: "back-to-patrol", href: `/app/task?id=${task}`, text: t("js:Back to the patrol") })) : null;
}

export default async function ({ staff }) {
  const form = $("#report-form");
  await categories();
  await restoreDraft();
  const placed = fromCode();
  render();
  if (!placed) position();
  $("#locate").addEventListener("click", position);
  const addTo = (list) => async (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    const busy = $("#photo-busy");
    busy.hidden = false;
    try {
      for (const file of files) {
        if (list.length >= MAX_PHOTOS) break;
        list.push(await prepare(file, { keepOriginal: staff && originalsOnWifi() }));
        changed();
      }
    } finally {
      busy.hidden = true;
    }
  };
  const originals = $("#originals");
  originals.checked = originalsOnWifi();
  originals.addEventListener("change", () => setOriginalsOnWifi(originals.checked));
  window.addEventListener("outbox-progress", (event) => sendingProgress(event.detail));
  $("#photo-input").addEventListener("change", addTo(state.photos));
  $("#after-input").addEventListener("change", addTo(state.after));
  $("#fixed").addEventListener("change", (event) => {
    $("#after-box").hidden = !event.target.checked;
    saveDraft();
  });
  form.addEventListener("input", saveDraft);
  form.addEventListener("change", (event) => {
    if (event.target.name === "category") state.checked = false; // another kind: ask again
  });
  form.addEventListener("change", (event) => {
    if (event.target.name === "safe") $("#unsafe-hint").hidden = event.target.value !== "no";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#form-error");
    error.hidden = true;
    const problem = check(form, staff);
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      return;
    }
    const button = $("#send");
    button.disabled = true;
    const body = {
      category: form.category.value,
      description: form.description.value.trim(),
      location: state.position,
      urgent: form.urgent.checked,
      captured_at: new Date().toISOString(),
    };
    if (!staff) body.reporter_safe = form.safe.value === "yes";
    if (state.qr) body.qr = state.qr;
    const fixed = staff && $("#fixed").checked;
    if (!fixed && (await offerDuplicatesFirst(form, body))) {
      button.disabled = false;
      return;
    }
    const label = form.category.selectedOptions[0].textContent;
    try {
      const answer = await outbox.submit({
        kind: "report",
        label: t("js:Report: {what}", { what: label }),
        body,
        ...photoFields("photos", state.photos),
        fix: fixed ? { note: body.description } : null,
        ...photoFields("after_photos", fixed ? state.after : []),
      });
      await kv.del(DRAFT);
      showResult(answer);
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });
}
