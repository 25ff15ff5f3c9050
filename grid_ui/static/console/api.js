// The console's JSON API client: same-origin cookie session, CSRF header, localised problems.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const messages = JSON.parse(document.getElementById("messages")?.textContent || "{}");

/** A `js:` catalog string in the page language (the msgid without its prefix as fallback). */
export function t(msgid) {
  return messages[`js:${msgid}`] ?? msgid;
}

const labels = JSON.parse(document.getElementById("labels")?.textContent || "{}");

/** The page-language name of a code from one of the server's label tables (stats/labels.py):
 * `named("duty", "grid_worker")`; the code itself when the table does not know it. */
export function named(table, code) {
  return labels[table]?.[code] ?? code;
}

export class Problem extends Error {
  constructor(body, status) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
    this.title = body.title;
    this.errors = body.errors || [];
  }
}

async function send(method, url, body) {
  const headers = { "Accept-Language": document.documentElement.lang || "zh-CN" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  return fetch(url, { method, headers, body: payload, credentials: "same-origin" });
}

/** Call the API; returns the parsed JSON (or null), throws a Problem on an error answer.
 * An expired access cookie is renewed once through /console/refresh. */
export async function api(method, url, body) {
  let answer = await send(method, url, body);
  if (answer.status === 401) {
    const renewed = await send("POST", "/console/refresh");
    if (!renewed.ok) {
      location.href = `/console/login?next=${encodeURIComponent(location.pathname + location.search)}`;
      throw new Problem({ title: "signed out" }, 401);
    }
    answer = await send(method, url, body);
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new Problem(data || {}, answer.status);
  return data;
}
