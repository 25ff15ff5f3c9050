// Photos on the phone before they are queued: read the capture time and GPS position from the
// JPEG's EXIF (the shrunk copy has none left), then shrink to the server's display size so a
// report goes up in seconds on 3G instead of a minute. Our own small EXIF reader: APP1 → TIFF
// → IFD0 → Exif IFD (DateTimeOriginal, OffsetTimeOriginal) and GPS IFD (latitude, longitude).

export const MAX_SIDE = 2048; // the server's display size: nothing larger is ever shown
export const MAX_BYTES = 800 * 1024;
const QUALITIES = [0.85, 0.78, 0.7]; // keeps text on signs readable; lower only if still big
const HEAD_BYTES = 256 * 1024; // APP1 is at most 64 KB and comes first

// --- EXIF --------------------------------------------------------------------------------

const TYPE_SIZE = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };

function tiffReader(view, start, length) {
  const order = view.getUint16(start);
  if (order !== 0x4949 && order !== 0x4d4d) return null;
  const little = order === 0x4949;
  const end = start + length;
  const u16 = (at) => view.getUint16(at, little);
  const u32 = (at) => view.getUint32(at, little);
  if (u16(start + 2) !== 42) return null;

  // the entries of the IFD at `offset` (from the TIFF start) as tag → {type, count, at}
  function ifd(offset) {
    const entries = new Map();
    const base = start + offset;
    if (offset < 8 || base + 2 > end) return entries;
    const count = u16(base);
    for (let i = 0; i < count && i < 512; i += 1) {
      const entry = base + 2 + i * 12;
      if (entry + 12 > end) break;
      const type = u16(entry + 2);
      const n = u32(entry + 4);
      const size = (TYPE_SIZE[type] || 0) * n;
      if (!size) continue;
      const at = size <= 4 ? entry + 8 : start + u32(entry + 8);
      if (at + size > end) continue;
      entries.set(u16(entry), { type, count: n, at });
    }
    return entries;
  }
  function ascii(entry) {
    if (!entry || entry.type !== 2) return null;
    let text = "";
    for (let i = 0; i < entry.count; i += 1) {
      const c = view.getUint8(entry.at + i);
      if (c === 0) break;
      text += String.fromCharCode(c);
    }
    return text.trim();
  }
  function rationals(entry) {
    if (!entry || (entry.type !== 5 && entry.type !== 10) || entry.count > 3) return null;
    const out = [];
    for (let i = 0; i < entry.count; i += 1) {
      const at = entry.at + i * 8;
      const num = entry.type === 5 ? u32(at) : view.getInt32(at, little);
      const den = entry.type === 5 ? u32(at + 4) : view.getInt32(at + 4, little);
      if (!den) return null;
      out.push(num / den);
    }
    return out;
  }
  function pointer(entries, tag) {
    const e = entries.get(tag);
    return e && (e.type === 4 || e.type === 13) && e.count === 1 ? u32(e.at) : 0;
  }
  return { ifd, ascii, rationals, pointer, first: u32(start + 4) };
}

function coordinate(parts, ref, limit) {
  if (!parts || !parts.length || !ref) return null;
  const hemisphere = ref.toUpperCase();
  if (!["N", "S", "E", "W"].includes(hemisphere)) return null;
  if (!parts.every((n) => Number.isFinite(n) && n >= 0)) return null;
  const degrees = parts.reduce((sum, n, i) => sum + n / 60 ** i, 0);
  if (degrees > limit) return null;
  return Math.round((hemisphere === "S" || hemisphere === "W" ? -degrees : degrees) * 1e7) / 1e7;
}

// "2026:05:01 09:30:15" (+ "+08:00") → "2026-05-01T09:30:15+08:00"; null if not a real time
function moment(text, offset) {
  const m = /^(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)$/.exec(text || "");
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const check = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return null;
  const local = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  // the same range the server accepts: from 2000 up to a day ahead of now
  if (year < 2000 || check.getTime() > Date.now() + 86_400_000 + 14 * 3_600_000) return null;
  return /^[+-]\d\d:\d\d$/.test(offset || "") ? local + offset : local;
}

// What a JPEG's EXIF says about where and when it was taken: {gps_lat, gps_lng, captured_at},
// each present only if read; {} for anything that is not a JPEG with readable EXIF.
export function readExif(buffer) {
  const found = {};
  try {
    const view = new DataView(buffer);
    if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return found;
    let at = 2;
    while (at + 4 <= view.byteLength) {
      const marker = view.getUint16(at);
      if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) break; // image data: no EXIF
      const length = view.getUint16(at + 2);
      const exifHeader = at + 4;
      if (marker === 0xffe1 && exifHeader + 6 <= view.byteLength && view.getUint32(exifHeader) === 0x45786966) {
        const start = exifHeader + 6;
        const tiff = tiffReader(view, start, Math.min(length - 8, view.byteLength - start));
        if (tiff) Object.assign(found, fromTiff(tiff));
        break;
      }
      at += 2 + length;
    }
  } catch (err) {
    // malformed metadata reads as absent, as on the server
  }
  return found;
}

function fromTiff(tiff) {
  const found = {};
  const zero = tiff.ifd(tiff.first);
  const exif = tiff.ifd(tiff.pointer(zero, 0x8769));
  const taken = moment(tiff.ascii(exif.get(0x9003)), tiff.ascii(exif.get(0x9011)));
  if (taken) found.captured_at = taken;
  const gps = tiff.ifd(tiff.pointer(zero, 0x8825));
  const lat = coordinate(tiff.rationals(gps.get(2)), tiff.ascii(gps.get(1)), 90);
  const lng = coordinate(tiff.rationals(gps.get(4)), tiff.ascii(gps.get(3)), 180);
  // phones write 0/0 when they had no fix
  if (lat !== null && lng !== null && !(lat === 0 && lng === 0)) {
    found.gps_lat = lat;
    found.gps_lng = lng;
  }
  return found;
}

// --- shrinking ---------------------------------------------------------------------------

async function decode(file) {
  if (self.createImageBitmap) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (err) {
      // fall through to <img>, which also turns the picture upright
    }
  }
  const img = new Image();
  img.decoding = "async";
  img.src = URL.createObjectURL(file);
  try {
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(img.src);
  }
}

function encode(canvas, quality) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type: "image/jpeg", quality });
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

function canvasOf(width, height) {
  if (self.OffscreenCanvas) return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

async function shrink(file) {
  const image = await decode(file);
  const width = image.width || image.naturalWidth;
  const height = image.height || image.naturalHeight;
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const small = file.size <= MAX_BYTES && scale === 1 && file.type === "image/jpeg";
  if (small) {
    if (image.close) image.close();
    return { blob: file, width, height, shrunk: false };
  }
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = canvasOf(w, h);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.fillStyle = "#fff"; // a transparent PNG comes out on white, not black
  context.fillRect(0, 0, w, h);
  context.drawImage(image, 0, 0, w, h);
  if (image.close) image.close();
  let blob = null;
  for (const quality of QUALITIES) {
    blob = await encode(canvas, quality);
    if (blob && blob.size <= MAX_BYTES) break;
  }
  if (!blob || (blob.size >= file.size && scale === 1)) return { blob: file, width, height, shrunk: false };
  const name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
  return { blob: new File([blob], name, { type: "image/jpeg" }), width: w, height: h, shrunk: true };
}

// A photo ready for the outbox: {blob, meta, original?}. `blob` is what goes up by default (the
// shrunk copy, or the original when it is already small); `meta` what the phone read from the
// original's EXIF; `original` is kept only when asked (staff sending originals on Wi-Fi).
export async function prepare(file, { keepOriginal = false } = {}) {
  let meta = {};
  try {
    meta = readExif(await file.slice(0, HEAD_BYTES).arrayBuffer());
  } catch (err) {
    meta = {};
  }
  let result;
  try {
    result = await shrink(file);
  } catch (err) {
    // a format this browser cannot decode (HEIC on most): send it as it is, the server can
    result = { blob: file, shrunk: false };
  }
  const photo = { blob: result.blob, meta, width: result.width || null, height: result.height || null };
  if (keepOriginal && result.shrunk) photo.original = file;
  return photo;
}

// The photos of a form, prepared as they are picked (check-ins, a fix's after photos): `add`
// takes the chosen files at once (the input may be cleared right after) and shrinks them in
// order; `ready()` waits for any still being prepared. `blobs` and `meta` go to the outbox as
// `photos` and `photos_meta`, as the report form's do.
export function preparedPhotos() {
  const blobs = [];
  const meta = [];
  let pending = Promise.resolve();
  return {
    blobs,
    meta,
    add(files, onAdded) {
      const chosen = [...files];
      pending = pending.then(async () => {
        for (const file of chosen) {
          const photo = await prepare(file);
          blobs.push(photo.blob);
          meta.push(photo.meta || {});
        }
        if (onAdded) onAdded();
      });
      return pending;
    },
    ready: () => pending,
  };
}

// --- which copy to send ------------------------------------------------------------------

const ORIGINALS = "originals-on-wifi";

export function originalsOnWifi() {
  try {
    return localStorage.getItem(ORIGINALS) === "1";
  } catch (err) {
    return false;
  }
}

export function setOriginalsOnWifi(on) {
  try {
    localStorage.setItem(ORIGINALS, on ? "1" : "0");
  } catch (err) {
    // private mode without storage: the setting lasts for this page only
  }
}

// Wi-Fi, or a connection the browser does not name but does not call cellular either.
export function onWifi() {
  const type = navigator.connection && navigator.connection.type;
  return type !== "cellular" && type !== "none";
}

// "340 KB", "4.5 MB"
export function byteSize(bytes) {
  const n = Number(bytes) || 0;
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.round(n / 1024)} KB`;
}
