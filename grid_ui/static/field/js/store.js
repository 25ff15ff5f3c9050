// IndexedDB, the phone's memory of the field app: the session (tokens and account), cached
// answers to show offline, drafts, and the outbox of things waiting to be sent (with their
// photos as Blobs).
const NAME = "grid-field";
const VERSION = 1;
let opening = null;

export function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
        if (!db.objectStoreNames.contains("outbox")) {
          db.createObjectStore("outbox", { keyPath: "id", autoIncrement: true });
        }
        if (!db.objectStoreNames.contains("sent")) db.createObjectStore("sent", { keyPath: "key" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(name, mode = "readonly") {
  const db = await open();
  return db.transaction(name, mode).objectStore(name);
}

export async function get(name, key) {
  return done((await store(name)).get(key));
}

export async function put(name, value, key) {
  return done((await store(name, "readwrite")).put(value, key));
}

export async function del(name, key) {
  return done((await store(name, "readwrite")).delete(key));
}

export async function all(name) {
  return done((await store(name)).getAll());
}

export async function clear(name) {
  return done((await store(name, "readwrite")).clear());
}

// Small helpers for the key-value store.
export const kv = {
  get: (key) => get("kv", key),
  set: (key, value) => put("kv", value, key),
  del: (key) => del("kv", key),
};
