// Turning stored values into readable text: bytes (hex from /query, arrays of numbers in
// journal entries) decoded as JSON or UTF-8 when they are, timestamps in local time.

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export function hexToBytes(hex) {
  const clean = (hex ?? "").replace(/\s+/g, "");
  if (clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) throw new Error("not a hex string");
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export const bytesToHex = (bytes) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export const textToBytes = (text) => encoder.encode(text);

/** `{kind: "json"|"text"|"hex"|"empty", text}` for a value's bytes. */
export function decodeBytes(bytes) {
  if (!bytes || bytes.length === 0) return { kind: "empty", text: "" };
  let text;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: "hex", text: bytesToHex(bytes) };
  }
  try {
    return { kind: "json", text: JSON.stringify(JSON.parse(text), null, 2), compact: text };
  } catch {
    return { kind: "text", text };
  }
}

export const decodeHex = (hex) => decodeBytes(hexToBytes(hex ?? ""));

/** A one-line rendering of a decoded value (for tables and journal summaries). */
export function oneLine(decoded, max = 160) {
  let text = decoded.kind === "json" ? JSON.stringify(JSON.parse(decoded.text)) : decoded.text;
  if (decoded.kind === "empty") text = "(empty)";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const pad = (n) => String(n).padStart(2, "0");

/** Local time: `HH:MM:SS` today, `YYYY-MM-DD HH:MM:SS` otherwise. */
export function formatTime(value) {
  if (value === undefined || value === null || value === "") return "";
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

/** "5 s ago", "in 3 min": for tooltips next to absolute times. */
export function relative(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const [n, unit] =
    size < 60 ? [size, "s"] : size < 3600 ? [Math.round(size / 60), "min"]
      : size < 86400 ? [Math.round(size / 3600), "h"] : [Math.round(size / 86400), "d"];
  return seconds < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

/** An ISO timestamp `minutes` ago, to compare with the views' RFC 3339 columns. */
export const isoMinutesAgo = (minutes) => new Date(Date.now() - minutes * 60_000).toISOString();
