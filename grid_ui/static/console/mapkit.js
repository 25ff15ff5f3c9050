// What the risk map and the case page's small map share: one table of marker styles (the
// legend draws its swatches from the same table, so they cannot drift apart), area outlines,
// and names drawn on the map only where they fit. No tiles are needed.
import { named, t } from "/static/console/api.js";
import { el, label } from "/static/console/dom.js";

export const RISK = { low: "#8fb8e8", medium: "#f2d14b", high: "#f08c2e", major: "#d93025" };

// kind -> Leaflet circleMarker options; `kind` also names the marker's class (marker-KIND)
export const MARKERS = {
  case: { radius: 4.5, color: "#7f0000", weight: 1, fillColor: "#ef6c00", fillOpacity: 0.9 },
  overdue: { radius: 4.5, color: "#7f0000", weight: 1, fillColor: "#c62828", fillOpacity: 0.9 },
  urgent: { radius: 7, color: "#7f0000", weight: 1, fillColor: "#c62828", fillOpacity: 0.9 },
  this: { radius: 9, color: "#0b3d91", weight: 3, fillColor: "#1e88e5", fillOpacity: 1 },
  ...Object.fromEntries(Object.entries(RISK).map(([level, colour]) => [
    `risk-${level}`, { radius: 6, color: "#4a148c", weight: 1.5, fillColor: colour, fillOpacity: 0.95 },
  ])),
};

export const OUTLINES = {
  township: { color: "#111827", weight: 4, opacity: 0.85 },
  community: { color: "#1d4ed8", weight: 2.5, opacity: 0.9, dashArray: "8 4" },
  grid: { color: "#4b5563", weight: 1, opacity: 1 },
  "case-grid": { color: "#0b63c5", weight: 2.5, opacity: 1 },
};

export function caseKind(p) {
  return p.urgent ? "urgent" : p.overdue ? "overdue" : "case";
}

export function riskKind(p) {
  return MARKERS[`risk-${p.risk_level}`] ? `risk-${p.risk_level}` : "risk-low";
}

/** A circle marker of a kind, with its class for styling and tests. */
export function marker(latlng, kind, extraClass) {
  const style = MARKERS[kind];
  return L.circleMarker(latlng, { ...style, className: `${extraClass} marker-${kind}` });
}

/** The legend's swatch of a marker kind: an SVG circle with the marker's own colours. */
export function markerSwatch(kind) {
  const style = MARKERS[kind];
  const ns = "http://www.w3.org/2000/svg";
  const size = 18;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("class", "marker-swatch");
  svg.setAttribute("aria-hidden", "true");
  const circle = document.createElementNS(ns, "circle");
  circle.setAttribute("cx", String(size / 2));
  circle.setAttribute("cy", String(size / 2));
  circle.setAttribute("r", String(Math.min(style.radius, size / 2 - style.weight)));
  circle.setAttribute("fill", style.fillColor);
  circle.setAttribute("fill-opacity", String(style.fillOpacity));
  circle.setAttribute("stroke", style.color);
  circle.setAttribute("stroke-width", String(style.weight));
  svg.append(circle);
  return svg;
}

/** The legend's swatch of a line (an outline): the line's own colour, width and dashes. */
export function lineSwatch(level) {
  const style = OUTLINES[level];
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "26");
  svg.setAttribute("height", "12");
  svg.setAttribute("class", "line-swatch");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS(ns, "line");
  for (const [k, v] of [["x1", "1"], ["y1", "6"], ["x2", "25"], ["y2", "6"]]) line.setAttribute(k, v);
  line.setAttribute("stroke", style.color);
  line.setAttribute("stroke-width", String(style.weight));
  if (style.dashArray) line.setAttribute("stroke-dasharray", style.dashArray);
  svg.append(line);
  return svg;
}

/** One legend row: a swatch and its words; data-marker / data-line name what it stands for. */
export function legendRow(swatch, words, data) {
  const row = el("div", { class: "legend-row", ...data }, swatch, words);
  return row;
}

export const MARKER_WORDS = {
  case: () => t("Open case"),
  overdue: () => t("Open case, overdue"),
  urgent: () => t("Urgent case"),
  this: () => t("This case"),
};

export function markerLegend(kinds) {
  return kinds.map((kind) => {
    const words = MARKER_WORDS[kind]
      ? MARKER_WORDS[kind]()
      : `${t("Risk point")} · ${named("risk level", kind.replace("risk-", ""))}`;
    return legendRow(markerSwatch(kind), words, { "data-marker": kind });
  });
}

export function outlineLegend(levels) {
  const words = {
    township: t("Township boundary"),
    community: t("Community boundary"),
    grid: t("Grid boundary"),
    "case-grid": t("The case's grid"),
  };
  return levels.map((level) => legendRow(lineSwatch(level), words[level], { "data-line": level }));
}

// --- names where they fit ----------------------------------------------------------------------

const measure = document.createElement("canvas").getContext("2d");

function textWidth(text, font) {
  measure.font = font;
  return measure.measureText(text).width;
}

/**
 * Names drawn on the map as permanent tooltips (text only, never markup). Each name shows
 * when its area is wide and tall enough on screen at the current zoom; communities' names show
 * when most grids are too small for theirs, and the township's when communities are too.
 */
export class AreaNames {
  constructor(map) {
    this.map = map;
    this.items = []; // { level, tooltip, layer, text }
    map.on("zoomend moveend", () => this.update());
  }

  // always: drawn whatever the zoom (the case page's one grid name)
  add(level, layer, text, latlng, { always = false, direction = "center" } = {}) {
    const tooltip = L.tooltip({
      permanent: true,
      direction,
      interactive: false,
      className: `area-label ${level}-label${always ? " own-label" : ""}`,
    });
    tooltip.setContent(label(text));
    tooltip.setLatLng(latlng || layer.getBounds().getCenter());
    this.map.openTooltip(tooltip);
    this.items.push({ level, tooltip, layer, text, always });
  }

  font(level) {
    return level === "grid" ? "12px sans-serif" : level === "community" ? "bold 13px sans-serif" : "bold 15px sans-serif";
  }

  fits(item) {
    const bounds = item.layer.getBounds();
    const a = this.map.latLngToContainerPoint(bounds.getNorthWest());
    const b = this.map.latLngToContainerPoint(bounds.getSouthEast());
    // the name takes at most two thirds of its area's width, and its area is three lines tall
    return textWidth(item.text, this.font(item.level)) * 1.5 < Math.abs(b.x - a.x) && Math.abs(b.y - a.y) > 48;
  }

  // the names that fit and do not overlap one drawn before them (larger areas first)
  apart(items) {
    const boxes = [];
    const kept = [];
    const size = (i) => { const b = i.layer.getBounds(); return (b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth()); };
    for (const item of [...items].sort((x, y) => size(y) - size(x))) {
      const at = this.map.latLngToContainerPoint(item.tooltip.getLatLng());
      const w = textWidth(item.text, this.font(item.level)) / 2 + 4;
      const box = [at.x - w, at.y - 10, at.x + w, at.y + 10];
      if (boxes.some((o) => box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3])) continue;
      boxes.push(box);
      kept.push(item);
    }
    return kept;
  }

  update() {
    const by = { grid: [], community: [], township: [] };
    for (const item of this.items) by[item.level].push(item);
    const fit = (items) => items.filter((i) => this.fits(i));
    const grids = fit(by.grid);
    // grid names when most grids have room for theirs; else communities'; else the township's
    const level = by.grid.length && grids.length >= 0.8 * by.grid.length ? "grid"
      : fit(by.community).length ? "community"
      : by.township.length ? "township" : "none";
    // the township's name is drawn however small it is: the map is never without a name
    const candidates = level === "grid" ? grids : level === "township" ? by.township : level === "community" ? fit(by.community) : [];
    const shown = new Set([...this.items.filter((i) => i.always), ...this.apart(candidates)]);
    for (const item of this.items) {
      item.tooltip.getElement()?.classList.toggle("label-hidden", !shown.has(item));
    }
    this.map.getContainer().dataset.labels = level;
  }
}

/** Outlines of communities and townships (thicker than grids), not clickable. */
export function outlineLayer(collection, names) {
  return L.geoJSON(collection, {
    interactive: false,
    style: (f) => ({ ...OUTLINES[f.properties.level], fill: false, className: `outline outline-${f.properties.level}` }),
    onEachFeature: (f, layer) => {
      if (names) {
        const [lng, lat] = f.properties.label_at;
        names.add(f.properties.level, layer, f.properties.name, L.latLng(lat, lng));
      }
    },
  });
}
