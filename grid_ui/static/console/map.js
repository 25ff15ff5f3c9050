// The risk map: grid outlines (coloured by open cases or risk level), risk points, open cases
// and active warnings as Leaflet layers, read from the JSON API in the tiles' datum.
import { api, named, t } from "/static/console/api.js";
import { el, label } from "/static/console/dom.js";
import {
  AreaNames, OUTLINES, RISK, caseKind, marker, markerLegend, outlineLayer, outlineLegend, riskKind,
} from "/static/console/mapkit.js";

const config = JSON.parse(document.getElementById("map-config").textContent);
const query = `area_id=${config.area_id}&datum=${config.datum}`;
const OPEN = ["submitted", "registered", "dispatched", "in_progress", "suspended", "pending_check"];
const WARNING = { blue: "#1e63d6", yellow: "#e6b800", orange: "#f07800", red: "#d01010" };
const CASE_STEPS = [[0, "#e4efe4"], [1, "#fff1b8"], [3, "#ffc77a"], [6, "#f28b6b"]];

const map = L.map("map", { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
if (config.tile_url) {
  L.tileLayer(config.tile_url, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
}
const status = document.getElementById("map-status");
const detail = document.getElementById("grid-detail");
const colourBy = document.getElementById("colour-by");
let grids;
let selected = null;

function caseColour(n) {
  let colour = CASE_STEPS[0][1];
  for (const [from, c] of CASE_STEPS) if (n >= from) colour = c;
  return colour;
}

function fill(props) {
  if (colourBy.value === "risk") return props.risk_level ? RISK[props.risk_level] : "#eef1f5";
  return caseColour(props.open_cases);
}

function style(feature) {
  const chosen = selected === feature.id;
  return {
    className: "grid",
    color: chosen ? "#0b63c5" : OUTLINES.grid.color,
    weight: chosen ? 3 : OUTLINES.grid.weight,
    fillColor: fill(feature.properties),
    fillOpacity: 0.7,
  };
}

function legend() {
  const box = document.getElementById("legend");
  // h2: the legend's sections follow the page's h1 (the grid's detail above may be hidden)
  box.replaceChildren(el("h2", {}, colourBy.value === "risk" ? t("Risk level") : t("Open cases")));
  const rows = colourBy.value === "risk"
    ? [["#eef1f5", t("none")], ...Object.entries(RISK).map(([k, c]) => [c, named("risk level", k)])]
    : [[CASE_STEPS[0][1], "0"], [CASE_STEPS[1][1], "1–2"], [CASE_STEPS[2][1], "3–5"], [CASE_STEPS[3][1], "6+"]];
  for (const [colour, words] of rows) {
    const swatch = el("span", { class: "swatch", "data-fill": colour });
    swatch.style.background = colour;
    swatch.style.opacity = "0.7"; // as the grids are filled
    box.append(el("div", { class: "legend-row" }, swatch, words));
  }
  box.append(
    el("h2", {}, t("Markers")),
    ...markerLegend(["urgent", "overdue", "case", "risk-major", "risk-high", "risk-medium", "risk-low"]),
    el("h2", {}, t("Boundaries")),
    ...outlineLegend(["township", "community", "grid"]),
  );
}

async function showGrid(feature) {
  selected = feature.id;
  grids.setStyle(style);
  document.getElementById("map-hint").hidden = true;
  detail.hidden = false;
  detail.replaceChildren(el("p", { class: "muted" }, t("Loading…")));
  const statuses = OPEN.map((s) => `status=${s}`).join("&");
  try {
    const [info, cases] = await Promise.all([
      api("GET", `/api/v1/map/grids/${feature.id}`),
      api("GET", `/api/v1/reports?area_id=${feature.id}&${statuses}&limit=20`),
    ]);
    const team = el("ul", { "data-testid": "grid-team" });
    for (const m of info.team) {
      team.append(el("li", {}, el("strong", {}, m.name), ` · ${named("duty", m.duty)} · ${m.phone}`));
    }
    if (!info.team.length) team.append(el("li", { class: "error" }, t("Nobody on duty today")));
    const list = el("ul", { "data-testid": "grid-cases" });
    for (const c of cases.items) {
      list.append(el("li", {},
        el("a", { href: `/console/cases/${c.id}` }, `#${c.id}`),
        ` ${config.status_names[c.status] || c.status_text} · ${c.description.slice(0, 40)}`,
        c.overdue ? el("span", { class: "badge danger" }, t("overdue")) : ""));
    }
    if (!cases.items.length) list.append(el("li", { class: "muted" }, t("No open cases")));
    const points = el("ul");
    for (const p of info.risk_points) points.append(el("li", {}, `${p.name} · ${named("risk level", p.risk_level)}`));
    const path = info.ancestors.map((a) => a.name).join(" / ");
    detail.replaceChildren(
      el("h2", {}, info.grid.name),
      el("p", { class: "muted" }, path),
      el("p", {}, `${t("Open cases")}: ${info.open_cases} · ${t("overdue")}: ${info.overdue_cases}`),
      el("h3", {}, t("Team on duty today")), team,
      el("h3", {}, t("Open cases")), list,
      ...(info.risk_points.length ? [el("h3", {}, t("Risk points")), points] : []),
    );
  } catch (problem) {
    detail.replaceChildren(el("p", { class: "error" }, problem.title || problem.message));
  }
}

function pointLayer(collection, kindOf, className) {
  return L.geoJSON(collection, {
    pointToLayer: (feature, latlng) => marker(latlng, kindOf(feature.properties), className),
    onEachFeature: (feature, layer) => layer.bindTooltip(label(tooltipText(feature))),
  });
}

function tooltipText(feature) {
  const p = feature.properties;
  if (p.risk_level && p.type) return `${p.name} · ${named("risk level", p.risk_level)}`;
  const parts = [`#${p.id}`, config.status_names[p.status] || t("Open case")];
  if (config.category_names[p.category]) parts.push(config.category_names[p.category]);
  if (p.urgent) parts.push(t("urgent"));
  if (p.overdue) parts.push(t("overdue"));
  return parts.join(" · ");
}

async function warningLayer(gridCollection) {
  // active warnings cover areas; the grids under them get a coloured border
  const page = await api("GET", `/api/v1/warnings?active=true&area_id=${config.area_id}&limit=50`);
  const layer = L.layerGroup();
  for (const warning of page.items) {
    const codes = warning.areas.map((a) => a.code);
    const covered = gridCollection.features.filter((f) => codes.some((c) => f.properties.code.startsWith(c)));
    if (!covered.length) continue;
    L.geoJSON({ type: "FeatureCollection", features: covered }, {
      interactive: false,
      style: { className: "warning-area", color: WARNING[warning.level], weight: 4, dashArray: "6 4", fill: false },
    }).addTo(layer);
  }
  return { layer, count: page.items.length };
}

async function load() {
  status.textContent = t("Loading…");
  const [collection, outlines] = await Promise.all([
    api("GET", `/api/v1/map/grids?${query}`),
    api("GET", `/api/v1/map/outlines?${query}`),
  ]);
  const names = new AreaNames(map);
  const communities = outlines.features.filter((f) => f.properties.level === "community");
  const communityOf = (code) => communities.find((c) => code.startsWith(c.properties.code))?.properties.name;
  grids = L.geoJSON(collection, {
    style,
    onEachFeature: (feature, layer) => {
      const p = feature.properties;
      const where = [communityOf(p.code), p.name].filter(Boolean).join(" / ");
      layer.bindTooltip(label(where, ` · ${t("Open cases")} ${p.open_cases}`));
      layer.on("click", () => showGrid(feature));
      names.add("grid", layer, feature.properties.name);
    },
  }).addTo(map);
  const boundaries = outlineLayer(outlines, names).addTo(map);
  if (collection.features.length) map.fitBounds(grids.getBounds(), { padding: [12, 12] });
  else map.setView([29.56, 106.57], 13);
  names.update();
  document.getElementById("map").dataset.grids = String(collection.features.length);
  const overlays = {};
  overlays[t("Grids")] = grids;
  overlays[t("Boundaries")] = boundaries;
  const [points, cases] = await Promise.all([
    api("GET", `/api/v1/map/risk-points?${query}`),
    api("GET", `/api/v1/reports/map?${query}`),
  ]);
  overlays[t("Risk points")] = pointLayer(points, riskKind, "risk-point").addTo(map);
  overlays[t("Open cases")] = pointLayer(cases, caseKind, "open-case").addTo(map);
  let warnings = 0;
  try {
    const found = await warningLayer(collection);
    overlays[t("Active warnings")] = found.layer.addTo(map);
    warnings = found.count;
  } catch (problem) {
    console.warn("warnings layer", problem);
  }
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  const parts = [
    `${t("Grids")}: ${collection.features.length}`,
    `${t("Risk points")}: ${points.features.length}`,
    `${t("Open cases")}: ${cases.features.length}`,
    `${t("Active warnings")}: ${warnings}`,
  ];
  if (collection.truncated) parts.push(t("Too many grids: choose a smaller area"));
  status.textContent = parts.join(" · ");
  document.getElementById("map").dataset.ready = "true";
}

colourBy.addEventListener("change", () => { grids?.setStyle(style); legend(); });
legend();
load().catch((problem) => { status.textContent = problem.title || problem.message; status.className = "error"; });
