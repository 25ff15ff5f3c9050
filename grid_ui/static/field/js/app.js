// Every field page starts here: the service worker, the session, the outbox, then the page's
// own module (pages/<name>.js).
import { cachedGet, me, session } from "./api.js";
import * as outbox from "./outbox.js";
import { byteSize } from "./photos.js";
import { t } from "./ui.js";

const app = document.querySelector(".field-app");
const page = app.dataset.page;
const PUBLIC = new Set(["login", "register"]);

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}

// The language link keeps the page's own query (?id=) and asks the worker for the shell in
// the new language.
function languageSwitch() {
  const link = document.querySelector("[data-lang-switch]");
  if (!link) return;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    const target = new URL(location.href);
    target.searchParams.set("lang", new URL(link.href).searchParams.get("lang"));
    fetch(target.href, { credentials: "same-origin" })
      .then(() => {
        const worker = navigator.serviceWorker && navigator.serviceWorker.controller;
        if (worker) worker.postMessage({ type: "refresh-shell" });
      })
      .finally(() => {
        target.searchParams.delete("lang");
        location.replace(target.href);
      });
  });
}

function network() {
  const badge = document.getElementById("net");
  const show = () => (badge.hidden = navigator.onLine);
  window.addEventListener("online", show);
  window.addEventListener("offline", show);
  show();
}

async function pending() {
  const banner = document.getElementById("pending");
  const list = await outbox.items();
  const failed = list.filter((i) => i.status === "failed").length;
  const waiting = list.length - failed;
  const parts = [];
  if (waiting) parts.push(t("js:{n} waiting to be sent", { n: waiting }));
  if (failed) parts.push(t("js:{n} not accepted", { n: failed }));
  const going = list.map((i) => outbox.progressOf(i.key)).find(Boolean);
  if (going && going.total) {
    parts.push(t("js:sending {sent} of {total}", { sent: byteSize(going.sent), total: byteSize(going.total) }));
  }
  banner.textContent = parts.join(" · ");
  banner.hidden = !parts.length;
  banner.classList.toggle("failed", failed > 0);
}

async function roles() {
  let staff = false;
  try {
    staff = (await me()).is_staff;
  } catch (err) {
    staff = false;
  }
  document.body.classList.toggle("is-staff", staff);
  for (const node of document.querySelectorAll(".staff-only")) node.hidden = !staff;
  for (const node of document.querySelectorAll(".resident-only")) node.hidden = staff;
  return staff;
}

function currentTab() {
  const tab = document.querySelector(`#tabs [data-tab="${page}"]`);
  if (tab) tab.classList.add("on");
}

async function boot() {
  registerWorker();
  languageSwitch();
  network();
  currentTab();
  const signedIn = await session();
  if (!signedIn && !PUBLIC.has(page)) {
    location.replace(`/app/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  const context = { staff: false };
  if (signedIn) {
    context.staff = await roles();
    window.addEventListener("outbox", pending);
    window.addEventListener("outbox-progress", pending);
    pending();
    outbox.start();
    // what the report form needs offline (categories, photo limits)
    if (navigator.onLine && page !== "report") cachedGet("/api/v1/config").catch(() => {});
  }
  // the page's module under its hashed name (preloaded by the page), so it is cached for good
  const preloaded = document.getElementById("page-module");
  const module = await import(preloaded ? preloaded.href : `./pages/${page}.js`);
  try {
    await module.default(context);
  } finally {
    // forms are usable once their page script listens (a bare submit would lose the input)
    for (const button of document.querySelectorAll("[data-ready]")) button.disabled = false;
  }
}

boot();
