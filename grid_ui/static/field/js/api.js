// The JSON API as the native app uses it: bearer access tokens, refresh tokens that rotate on
// every use. The session lives in IndexedDB so the outbox can still send hours later.
import { clear, kv } from "./store.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || "";
  }
  // Worth trying again later: the server or the way to it had a problem, not the request.
  get transient() {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

export class NetworkError extends Error {}

export class SignedOut extends Error {}

const SESSION = "session";
const EARLY_REFRESH_MS = 30_000;

export async function session() {
  return (await kv.get(SESSION)) || null;
}

export async function saveSession(pair) {
  const value = {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    account: pair.account,
  };
  await kv.set(SESSION, value);
  return value;
}

// Signing out forgets everything personal kept on the phone (cached answers, drafts).
export async function forget() {
  await clear("kv");
}

function language() {
  return document.documentElement.lang || "zh-CN";
}

async function raw(path, { method = "GET", json, body, headers = {}, token } = {}) {
  const init = { method, headers: { "Accept-Language": language(), ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (err) {
    throw new NetworkError(String(err));
  }
  const type = answer.headers.get("content-type") || "";
  const data = type.includes("json") ? await answer.json().catch(() => null) : null;
  if (!answer.ok) throw new ApiError(answer.status, data);
  return { status: answer.status, data, headers: answer.headers };
}

// One refresh at a time across tabs: a rotated refresh token presented twice revokes the
// whole sign-in, so whoever holds the lock first refreshes and the others reuse its result.
async function refreshed(stale) {
  const run = async () => {
    const current = await session();
    if (!current) throw new SignedOut();
    if (current.refresh_token !== stale.refresh_token) return current;
    try {
      const { data } = await raw("/api/v1/auth/refresh", {
        method: "POST",
        json: { refresh_token: current.refresh_token },
      });
      return saveSession(data);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        await forget();
        throw new SignedOut();
      }
      throw err;
    }
  };
  if (navigator.locks) return navigator.locks.request("grid-field-auth", run);
  return run();
}

// A call as the signed-in person; refreshes the access token when it is about to expire or
// is refused, once.
export async function api(path, options = {}) {
  let current = await session();
  if (!current) throw new SignedOut();
  if (current.expires_at - EARLY_REFRESH_MS < Date.now()) current = await refreshed(current);
  try {
    return (await raw(path, { ...options, token: current.access_token })).data;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      current = await refreshed(current);
      return (await raw(path, { ...options, token: current.access_token })).data;
    }
    throw err;
  }
}

// A multipart upload with its progress: `onProgress(sent, total)` as the bytes go (fetch cannot
// tell that for a request body; XMLHttpRequest can). Same errors and token refresh as api().
function sendForm(path, form, { headers = {}, token, onProgress }) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Accept-Language", language());
    if (token) request.setRequestHeader("Authorization", `Bearer ${token}`);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    if (onProgress) request.upload.onprogress = (event) => onProgress(event.loaded, event.total);
    request.onerror = () => reject(new NetworkError("upload failed"));
    request.ontimeout = request.onerror;
    request.onabort = request.onerror;
    request.onload = () => {
      let data = null;
      if ((request.getResponseHeader("content-type") || "").includes("json")) {
        try {
          data = JSON.parse(request.responseText);
        } catch (err) {
          data = null;
        }
      }
      if (request.status < 200 || request.status >= 300) reject(new ApiError(request.status, data));
      else resolve(data);
    };
    request.send(form);
  });
}

export async function upload(path, form, options = {}) {
  let current = await session();
  if (!current) throw new SignedOut();
  if (current.expires_at - EARLY_REFRESH_MS < Date.now()) current = await refreshed(current);
  try {
    return await sendForm(path, form, { ...options, token: current.access_token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      current = await refreshed(current);
      return sendForm(path, form, { ...options, token: current.access_token });
    }
    throw err;
  }
}

// The same, with the status and headers (201 or a 200 replay).
export async function apiFull(path, options = {}) {
  let current = await session();
  if (!current) throw new SignedOut();
  if (current.expires_at - EARLY_REFRESH_MS < Date.now()) current = await refreshed(current);
  try {
    return await raw(path, { ...options, token: current.access_token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      current = await refreshed(current);
      return raw(path, { ...options, token: current.access_token });
    }
    throw err;
  }
}

export async function login(phone, password) {
  const { data } = await raw("/api/v1/auth/login", { method: "POST", json: { phone, password } });
  return saveSession(data);
}

// Step 1 of signing up: a code is texted to the phone (the answer is the same for any number).
export async function requestCode(phone) {
  const { data } = await raw("/api/v1/auth/register/code", { method: "POST", json: { phone } });
  return data;
}

export async function register(phone, code, password, name) {
  const { data } = await raw("/api/v1/auth/register", {
    method: "POST",
    json: { phone, code, password, name },
  });
  return saveSession(data);
}

export async function logout() {
  const current = await session();
  if (current) {
    try {
      await raw("/api/v1/auth/logout", {
        method: "POST",
        json: { refresh_token: current.refresh_token },
      });
    } catch (err) {
      // offline: the session is forgotten here; the refresh token expires by itself
    }
  }
  await forget();
}

// The account and its duties, cached for offline pages.
export async function me({ fresh = false } = {}) {
  const cached = await kv.get("me");
  if (cached && !fresh) return cached;
  try {
    const data = await api("/api/v1/me");
    await kv.set("me", data);
    return data;
  } catch (err) {
    if (cached && (err instanceof NetworkError || (err instanceof ApiError && err.transient))) {
      return cached;
    }
    throw err;
  }
}

// A GET whose last answer is kept for offline reading.
export async function cachedGet(path) {
  try {
    const data = await api(path);
    await kv.set("get:" + path, { data, at: Date.now() });
    return { data, offline: false };
  } catch (err) {
    if (err instanceof NetworkError || (err instanceof ApiError && err.transient)) {
      const kept = await kv.get("get:" + path);
      if (kept) return { data: kept.data, offline: true, at: kept.at };
    }
    throw err;
  }
}

// A file the API answers (the copy of one's data): its bytes and the name the server gives it.
export async function download(path) {
  const fetchIt = async (token) => {
    let answer;
    try {
      answer = await fetch(path, { headers: { Authorization: `Bearer ${token}`, "Accept-Language": language() } });
    } catch (err) {
      throw new NetworkError(String(err));
    }
    if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => null));
    const disposition = answer.headers.get("content-disposition") || "";
    const named = /filename="([^"]+)"/.exec(disposition);
    return { blob: await answer.blob(), filename: named ? named[1] : "" };
  };
  let current = await session();
  if (!current) throw new SignedOut();
  if (current.expires_at - EARLY_REFRESH_MS < Date.now()) current = await refreshed(current);
  try {
    return await fetchIt(current.access_token);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      current = await refreshed(current);
      return fetchIt(current.access_token);
    }
    throw err;
  }
}

// Photos need the bearer token, so <img> gets an object URL of the fetched bytes.
export async function photoURL(url) {
  let current = await session();
  if (!current) throw new SignedOut();
  if (current.expires_at - EARLY_REFRESH_MS < Date.now()) current = await refreshed(current);
  const answer = await fetch(url, { headers: { Authorization: `Bearer ${current.access_token}` } });
  if (!answer.ok) throw new ApiError(answer.status, null);
  return URL.createObjectURL(await answer.blob());
}
