// DOM helpers for the console: user-written text enters the page only as text nodes.
// Leaflet parses a *string* given to bindTooltip/bindPopup/setContent as HTML, so map labels
// are always built with `label()` (tests/web/test_static_safety.py holds that rule).

/** An element; children are nodes or strings, and strings become text, never markup. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/** A tooltip or popup body for Leaflet: a <span> whose text is `parts` joined, as plain text. */
export function label(...parts) {
  const node = document.createElement("span");
  node.textContent = parts.join("");
  return node;
}
