// The case page's small map: the case, its grid's outline, and the open cases and risk points
// around it that the officer may see (the API scopes them), in the tiles' datum. Works with no
// tiles: the grid and the markers are drawn on a plain background.
import { api, named, t } from "/static/console/api.js";
import { el, label } from "/static/console/dom.js";
import { AreaNames, OUTLINES, caseKind, marker, markerLegend, outlineLegend, riskKind } from "/static/console/mapkit.js";

const config = JSON.parse(document.getElementById("case-map-config").textContent);
const box = document.getElementById("case-map");
const status = document.getElementById("case-map-status");

function caseText(p) {
  const parts = [`#${p.id}`, config.status_names[p.status] || t("Open case")];
  if (config.category_names[p.category]) parts.push(config.category_names[p.category]);
  if (p.urgent) parts.push(t("urgent"));
  if (p.overdue) parts.push(t("overdue"));
  return parts.join(" · ");
}

async function draw() {
  const found = await api("GET", `/api/v1/reports/${config.report_id}/surroundings?datum=${config.datum}`);
  const map = L.map(box, { zoomSnap: 0.5, attributionControl: Boolean(config.tile_url), scrollWheelZoom: false });
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
  }
  const [lng, lat] = found.case.geometry.coordinates;
  const here = L.latLng(lat, lng);
  const own = found.grids.find((f) => f.properties.own);
  const grid = own
    ? L.geoJSON(own, {
      interactive: false,
      style: { ...OUTLINES["case-grid"], fillColor: "#dbeafe", fillOpacity: 0.35, className: "case-grid" },
    })
    : null;
  // the view spans the grid and the circle within which other cases and risks are shown
  let bounds = here.toBounds(found.radius_m * 2);
  if (grid) bounds = bounds.extend(grid.getBounds());
  map.fitBounds(bounds, { padding: [16, 16] });
  const names = new AreaNames(map);
  for (const f of found.grids.filter((g) => !g.properties.own)) {
    const layer = L.geoJSON(f, { interactive: false, style: { ...OUTLINES.grid, fill: false, className: "grid" } }).addTo(map);
    names.add("grid", layer, f.properties.name);
  }
  if (grid) {
    grid.addTo(map);
    const p = own.properties;
    const top = grid.getBounds();
    // above the grid, so the name never hides the case's marker
    names.add("grid", grid, [p.community, p.name].filter(Boolean).join(" / "), L.latLng(top.getNorth(), top.getCenter().lng), { always: true, direction: "top" });
  }
  L.circle(here, { radius: found.radius_m, interactive: false, color: "#6b7280", weight: 1, dashArray: "3 4", fill: false, className: "case-radius" }).addTo(map);
  for (const f of found.risk_points.features) {
    const [x, y] = f.geometry.coordinates;
    marker(L.latLng(y, x), riskKind(f.properties), "risk-point")
      .bindTooltip(label(`${f.properties.name} · ${named("risk level", f.properties.risk_level)}`))
      .addTo(map);
  }
  for (const f of found.cases.features) {
    const [x, y] = f.geometry.coordinates;
    const m = marker(L.latLng(y, x), caseKind(f.properties), "open-case").bindTooltip(label(caseText(f.properties))).addTo(map);
    m.on("click", () => { location.href = `/console/cases/${f.properties.id}`; });
  }
  marker(here, "this", "this-case").bindTooltip(label(caseText(found.case.properties))).addTo(map);
  names.update();
  status.textContent = `${t("Open cases nearby")}: ${found.cases.features.length} · ${t("Risk points nearby")}: ${found.risk_points.features.length} · ${t("within {m} m").replace("{m}", found.radius_m)}`;
  document.getElementById("case-legend").replaceChildren(
    el("h3", {}, t("Markers")),
    ...markerLegend(["this", "urgent", "overdue", "case", "risk-major", "risk-high", "risk-medium", "risk-low"]),
    el("h3", {}, t("Boundaries")),
    ...outlineLegend(["case-grid", "grid"]),
  );
  box.dataset.ready = "true";
}

draw().catch((problem) => {
  console.warn("case map", problem);
  status.textContent = problem.title || problem.message;
  status.className = "error";
});
