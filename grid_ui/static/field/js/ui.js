// Small page helpers: translations, local time, elements, position, notices.
const root = () => document.querySelector(".field-app");
let messages = null;

// `t("js:Sent")` is the page language's text for a `js:` message id (the English after the
// prefix when there is none); `{name}` placeholders are filled from `values`.
export function t(id, values = {}) {
  if (!messages) {
    const node = document.getElementById("messages");
    messages = node ? JSON.parse(node.textContent) : {};
  }
  const text = messages[id] || id.replace(/^js:/, "");
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

let labels = null;

// The page-language name of a code from one of the server's label tables (stats/labels.py):
// `named("category group", "natural_hazard")`; the code itself when the table does not know it.
export function named(table, code) {
  if (!labels) {
    const node = document.getElementById("labels");
    labels = node ? JSON.parse(node.textContent) : {};
  }
  return (labels[table] && labels[table][code]) || code;
}

export function lang() {
  return document.documentElement.lang || "zh-CN";
}

export function english() {
  return lang().startsWith("en");
}

function zone() {
  return (root() && root().dataset.timezone) || "Asia/Shanghai";
}

// A UTC time from the API, shown in the configured zone (Asia/Shanghai).
export function when(value, { date = true, time = true } = {}) {
  if (!value) return "";
  const options = { timeZone: zone(), hour12: false };
  if (date) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  if (time) Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(lang(), options).format(new Date(value));
}

// `h("p.note", {text: "..."}, child, ...)`: an element; text is never parsed as HTML.
export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector) {
  return document.querySelector(selector);
}

export function view(...children) {
  const node = document.getElementById("view");
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

let toastTimer = null;
export function toast(text, kind = "info") {
  const node = document.getElementById("toast");
  if (!node) return;
  node.textContent = text;
  node.className = `toast ${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 4000);
}

export function showError(node, err) {
  node.textContent = describe(err);
  node.hidden = false;
}

// A person-readable sentence for an error of the API or the network.
export function describe(err) {
  if (!err) return "";
  if (err.name === "NetworkError" || err.constructor?.name === "NetworkError") {
    return t("js:No connection. Try again when you have a signal.");
  }
  if (err.problem) {
    const problem = err.problem;
    const field = problem.errors && problem.errors[0];
    // the detail is in the page's language; a field's message only when there is none
    return [problem.title, problem.detail || (field && field.message)].filter(Boolean).join(": ");
  }
  return err.message || String(err);
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The browser's position: WGS-84, with its accuracy in metres.
export function locate({ timeout = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(Object.assign(new Error(t("js:This browser cannot tell your position.")), { denied: true }));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (found) =>
        resolve({
          lat: found.coords.latitude,
          lng: found.coords.longitude,
          datum: "wgs84",
          accuracy_m: Math.round(found.coords.accuracy * 10) / 10,
          source: "gps",
          is_mock: false,
        }),
      (err) =>
        reject(
          Object.assign(
            new Error(
              err.code === 1
                ? t("js:Allow this page to use your position, then try again.")
                : t("js:Your position could not be found. Try again outdoors."),
            ),
            { denied: err.code === 1 },
          ),
        ),
      { enableHighAccuracy: true, timeout, maximumAge: 30000 },
    );
  });
}

// Metres between two WGS-84 positions ({lat, lng}) along the earth's surface.
export function metresBetween(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(s));
}

// "350 m" or "1.2 km"
export function distanceText(metres) {
  return metres < 1000
    ? t("js:{n} m", { n: Math.round(metres) })
    : t("js:{n} km", { n: (metres / 1000).toFixed(metres < 10000 ? 1 : 0) });
}

export function positionText(p) {
  return t("js:{lat}, {lng} (within {accuracy} m)", {
    lat: p.lat.toFixed(5),
    lng: p.lng.toFixed(5),
    accuracy: Math.round(p.accuracy_m ?? 0),
  });
}

export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

// A plain-language badge for a status, coloured by how far along it is.
export function statusBadge(status, text) {
  return h(`span.status.s-${status}`, { text: text || status });
}
