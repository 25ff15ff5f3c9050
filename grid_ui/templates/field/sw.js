/* The field app's service worker (served as /app/sw.js, scope /app/, preceded by
   `const SHELL = {version, pages, assets}` written by the server).
   - The shell (pages, scripts, styles, icons) is kept in a cache named after its version.
   - Pages: network first (so the language and fresh markup win when online), the cached copy
     when the network fails or is too slow; a page's query string does not matter (?id=).
   - Static files: cache first; their names carry their content hash (?v=, web/assets.py), and
     a module imported without one (a page module) is matched ignoring the query.
   - The API is never cached here: the outbox in IndexedDB handles what is made offline. */
/* global SHELL */
"use strict";

const CACHE = "grid-field-" + SHELL.version;
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([...SHELL.pages, ...SHELL.assets, "/app/manifest.webmanifest"]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((k) => k.startsWith("grid-field-") && k !== CACHE).map((k) => caches.delete(k)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

// After a language switch the page asks for the shell again in the new language.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "refresh-shell") {
    event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.pages)).catch(() => {}));
  }
});

function timeout(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));
}

async function page(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  const key = url.pathname === "/app" ? "/app/" : url.pathname;
  try {
    const answer = await Promise.race([fetch(request), timeout(NETWORK_TIMEOUT_MS)]);
    if (answer.ok && answer.type === "basic") cache.put(key, answer.clone());
    return answer;
  } catch (err) {
    const kept = await cache.match(key, { ignoreSearch: true });
    if (kept) return kept;
    const home = await cache.match("/app/");
    if (home) return home;
    throw err;
  }
}

async function asset(request) {
  const kept = await caches.match(request, { ignoreSearch: true });
  if (kept) return kept;
  const answer = await fetch(request);
  if (answer.ok) (await caches.open(CACHE)).put(request, answer.clone());
  return answer;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/app") && !url.pathname.startsWith("/app/sw.js")) {
    if (request.mode === "navigate" || SHELL.pages.includes(url.pathname) ||
        url.pathname === "/app/manifest.webmanifest") {
      event.respondWith(page(request));
    }
    return;
  }
  if (url.pathname.startsWith("/static/")) event.respondWith(asset(request));
});
