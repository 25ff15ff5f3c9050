// Hotline intake: the officer files a case for a caller (POST /api/v1/hotline-reports). The
// place is a map click (in the tiles' datum), a grid or community found by name, or a typed
// address; possible duplicates (the phone's check) show once place and category are set, and
// the call can join one of them instead. Text from users and the server enters only as text.
import { api, t } from "/static/console/api.js";
import { el, label } from "/static/console/dom.js";
import { AreaNames, OUTLINES, marker } from "/static/console/mapkit.js";

const config = JSON.parse(document.getElementById("hotline-config").textContent);
const form = document.getElementById("hotline-form");
const f = form.elements;
const results = document.getElementById("place-results");
const chosenPlace = document.getElementById("chosen-place");
const duplicates = document.getElementById("duplicates");
const attachNote = document.getElementById("attach-note");
const result = document.getElementById("hotline-result");
const submit = form.querySelector("button[type=submit]");

// what the officer chose: a map point, or a place (with a point inside it for the duplicates)
let picked = null; // { lat, lng } in config.datum
let place = null; // { id, name, lat, lng }
let attachTo = null;
let clientId = newId();
let pin = null;

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}-${Math.random().toString(16).slice(2)}`;
}

// --- the map ---------------------------------------------------------------------------------
const map = L.map("hotline-map", { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
map.setView([29.56, 106.57], 13);

function setPin(lat, lng) {
  if (pin) pin.remove();
  pin = marker(L.latLng(lat, lng), "this", "picked").addTo(map);
}

async function drawGrids() {
  const collection = await api("GET", `/api/v1/map/grids?area_id=${config.area_id}&datum=${config.datum}`);
  const names = new AreaNames(map);
  const grids = L.geoJSON(collection, {
    style: { ...OUTLINES.grid, fillColor: "#e4efe4", fillOpacity: 0.4, className: "grid" },
    onEachFeature: (feature, layer) => {
      layer.bindTooltip(label(feature.properties.name));
      names.add("grid", layer, feature.properties.name);
    },
  }).addTo(map);
  grids.on("click", (event) => pickPoint(event.latlng));
  if (collection.features.length) map.fitBounds(grids.getBounds(), { padding: [8, 8] });
  names.update();
  document.getElementById("hotline-map").dataset.ready = "true";
}
map.on("click", (event) => pickPoint(event.latlng));

function pickPoint(latlng) {
  picked = { lat: latlng.lat, lng: latlng.lng };
  place = null;
  f.address.value = "";
  setPin(latlng.lat, latlng.lng);
  chosenPlace.textContent = `${t("Picked on the map")}: ${latlng.lat.toFixed(5)}, ${latlng.lng.toFixed(5)}`;
  checkDuplicates();
}

// --- place search ----------------------------------------------------------------------------
let searchTimer = null;
f.place_search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(searchPlaces, 250);
});

async function searchPlaces() {
  const words = f.place_search.value.trim();
  if (!words) { results.replaceChildren(); return; }
  try {
    const page = await api("GET", `/api/v1/hotline-reports/places?q=${encodeURIComponent(words)}&datum=${config.datum}&limit=10`);
    results.replaceChildren(...page.items.map((p) => {
      const name = p.parent_name ? `${p.parent_name} / ${p.name}` : p.name;
      const button = el("button", { type: "button", class: "link", "data-place": String(p.id) }, name);
      button.addEventListener("click", () => choosePlace({ ...p, label: name }));
      return el("li", {}, button);
    }));
    if (!page.items.length) results.replaceChildren(el("li", { class: "muted" }, t("No grid or community of yours has that name.")));
  } catch (problem) {
    results.replaceChildren(el("li", { class: "error" }, problem.title || problem.message));
  }
}

function choosePlace(p) {
  place = p;
  picked = null;
  f.address.value = "";
  results.replaceChildren();
  chosenPlace.textContent = `${t("Place")}: ${p.label}`;
  if (p.lat !== null && p.lng !== null) {
    setPin(p.lat, p.lng);
    map.setView([p.lat, p.lng], Math.max(map.getZoom(), 15));
  }
  checkDuplicates();
}

f.address.addEventListener("input", () => {
  if (f.address.value.trim()) {
    picked = null;
    place = null;
    chosenPlace.textContent = "";
    if (pin) { pin.remove(); pin = null; }
  }
});

// --- duplicates ------------------------------------------------------------------------------
f.category.addEventListener("change", checkDuplicates);

function where() {
  if (picked) return { lat: picked.lat, lng: picked.lng, datum: config.datum, source: "map_pick" };
  if (place && place.lat !== null) return { lat: place.lat, lng: place.lng, datum: config.datum, source: "manual" };
  return null;
}

async function checkDuplicates() {
  const location = where();
  if (!location || !f.category.value) return;
  try {
    const found = await api("POST", "/api/v1/reports/possible-duplicates", { category: f.category.value, location });
    document.getElementById("dup-hint").textContent = found.length ? t("The caller may mean one of these open cases:") : t("No open case of this category nearby.");
    duplicates.replaceChildren(...found.map((d) => {
      const join = el("button", { type: "button", "data-attach": String(d.id) }, t("Add this call to the case"));
      join.addEventListener("click", () => chooseAttach(d));
      const distance = d.distance_m === null ? "" : ` · ${Math.round(d.distance_m)} m`;
      return el("li", { "data-case": String(d.id) },
        el("a", { href: `/console/cases/${d.id}` }, `#${d.id}`), ` ${d.status_text}${distance}`,
        el("br"), el("span", { class: "muted small" }, d.description.slice(0, 80)), el("br"), join);
    }));
  } catch (problem) {
    document.getElementById("dup-hint").textContent = problem.title || problem.message;
  }
}

function chooseAttach(d) {
  attachTo = attachTo === d.id ? null : d.id;
  for (const li of duplicates.children) li.classList.toggle("chosen", li.dataset.case === String(attachTo));
  attachNote.hidden = attachTo === null;
  attachNote.textContent = attachTo === null ? "" : t("This call will be added to case #{id} instead of a new case.").replace("{id}", attachTo);
  submit.textContent = attachTo === null ? t("File the case") : t("Add the call to the case");
}

// --- submitting ------------------------------------------------------------------------------
function clearErrors() {
  form.querySelector("[data-error]").textContent = "";
  for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

function markField(name, message) {
  const span = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
  if (!span) return false;
  span.textContent = span.textContent ? `${span.textContent}; ${message}` : message;
  form.elements[name]?.setAttribute?.("aria-invalid", "true");
  return true;
}

// what the API would refuse, named at each field in the page's language before sending
function checkFields() {
  const missing = [];
  if (!f.caller_phone.value.trim()) missing.push(["caller_phone", t("required")]);
  if (attachTo === null) {
    if (!where() && !f.address.value.trim()) missing.push(["location", t("Pick the place on the map, choose it by name, or type the address.")]);
    if (!f.category.value) missing.push(["category", t("required")]);
  }
  if (!f.description.value.trim()) missing.push(["description", t("required")]);
  for (const [name, message] of missing) markField(name, message);
  return missing.length === 0;
}

async function uploadPhotos() {
  const ids = [];
  for (const file of f.photos.files) {
    const body = new FormData();
    body.append("file", file);
    ids.push((await api("POST", "/api/v1/media", body)).id);
  }
  return ids;
}

function body(photoIds) {
  const data = {
    channel: f.channel.value,
    caller_phone: f.caller_phone.value,
    caller_name: f.caller_name.value,
    description: f.description.value,
    urgent: f.urgent.value === "true",
    photo_ids: photoIds,
    client_id: clientId,
  };
  if (attachTo !== null) return { ...data, attach_to: attachTo };
  data.category = f.category.value;
  if (picked) data.location = where();
  else if (place) data.area_id = place.id;
  else data.address = f.address.value;
  return data;
}

function showResult(answer) {
  const call = answer.call;
  const told = answer.caller_linked
    ? t("The caller is a registered resident: the case is in their app.")
    : call.sms_status === "sent"
      ? t("SMS with the case number sent to {phone}.").replace("{phone}", call.caller_phone)
      : t("The SMS to {phone} could not be sent: tell the caller the case number.").replace("{phone}", call.caller_phone);
  result.replaceChildren(
    el("h2", {}, answer.attached ? t("Call added to the case") : t("Case filed")),
    el("p", { class: "case-number", "data-testid": "case-number" }, `#${answer.report_id}`),
    el("p", {}, answer.place_name),
    el("p", { "data-testid": "caller-told", "data-sms": call.sms_status }, told),
    el("p", {}, el("a", { href: `/console/cases/${Number(answer.report_id)}`, "data-testid": "case-link" }, t("Open the case"))),
  );
  result.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  if (!checkFields()) {
    form.querySelector("[data-error]").textContent = t("Some fields need attention.");
    form.querySelector("[aria-invalid]")?.focus();
    return;
  }
  submit.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/hotline-reports", body(await uploadPhotos()));
    showResult(answer);
    form.reset();
    clientId = newId();
    picked = null; place = null; attachTo = null;
    chosenPlace.textContent = "";
    attachNote.hidden = true;
    duplicates.replaceChildren();
    submit.textContent = t("File the case");
    if (pin) { pin.remove(); pin = null; }
  } catch (problem) {
    const general = [];
    for (const item of problem.errors || []) {
      if (!markField(item.field, item.message)) general.push(item.message);
    }
    if (!problem.errors?.length && problem.code && form.querySelector(`.field-error[data-for="${CSS.escape(problemField(problem.code))}"]`)) {
      markField(problemField(problem.code), problem.detail || problem.title);
    }
    const detail = problem.detail && problem.detail !== problem.title ? `: ${problem.detail}` : "";
    form.querySelector("[data-error]").textContent = [`${problem.title || problem.message}${detail}`, ...general].join(" · ");
  } finally {
    submit.disabled = false;
  }
});

// codes the API answers without a field list
function problemField(code) {
  return { place_outside_your_areas: "location", outside_all_grids: "location", report_not_open: "description" }[code] || "";
}

drawGrids().catch((problem) => {
  console.warn("hotline map", problem);
  document.getElementById("hotline-map").dataset.ready = "error";
});
