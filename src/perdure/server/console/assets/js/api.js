// The console's only way to the server: the admin HTTP API on this origin.
// `query` is `POST /query` (JSON rows, null columns omitted, blobs as hex);
// `admin` is any other admin route; `invoke` goes through the console's proxy to the ingress.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string") return body.message;
  } catch {
    // not JSON: the text itself says what happened
  }
  return text.trim() || `${response.status} ${response.statusText}`;
}

// A few queries at a time: the server refuses (429) more than a handful at once, and a
// page asks several per refresh.
const MAX_IN_FLIGHT = 2;
let inFlight = 0;
const queue = [];

async function slot(work) {
  if (inFlight >= MAX_IN_FLIGHT) await new Promise((resolve) => queue.push(resolve));
  inFlight += 1;
  try {
    return await work();
  } finally {
    inFlight -= 1;
    const next = queue.shift();
    if (next) next();
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A server started with an admin token answers 401: ask for the token once, keep it in a
// cookie for this origin (the admin API accepts it there), and try again.
const TOKEN_COOKIE = "perdure-admin-token";
let asking = null;

async function askForToken() {
  if (!asking) {
    asking = Promise.resolve().then(() => {
      const token = window.prompt("This perdure server needs its admin token:");
      if (token) document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(token.trim())}; path=/; SameSite=Strict`;
      return Boolean(token);
    }).finally(() => { setTimeout(() => { asking = null; }, 0); });
  }
  return asking;
}

/** `fetch`, asking for the admin token when the server wants one. */
export async function authorizedFetch(path, init) {
  const response = await fetch(path, init);
  if (response.status !== 401) return response;
  return (await askForToken()) ? fetch(path, init) : response;
}

/** Rows of one read-only SQL statement. */
export async function query(sql) {
  return slot(async () => {
    for (let attempt = 0; ; attempt += 1) {
      const response = await authorizedFetch("/query", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: sql }),
      });
      if (response.status === 429 && attempt < 3) {
        await pause(150 * (attempt + 1)); // busy: other queries finish in a moment
        continue;
      }
      if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
      const body = await response.json();
      return body.rows ?? [];
    }
  });
}

/** The first row of a query, or undefined. */
export async function queryOne(sql) {
  const rows = await query(sql);
  return rows[0];
}

/** An admin API call; the parsed JSON answer (null when it has no body). */
export async function admin(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await authorizedFetch(path, init);
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A request to the ingress path `ingressPath` (`Svc/key/handler[/send]`), via the proxy. */
export async function invoke(ingressPath, { method = "POST", body, headers = {} } = {}) {
  const response = await authorizedFetch(`/ui/api/invoke/${ingressPath}`, { method, body, headers });
  const text = await response.text();
  return {
    status: response.status,
    ok: response.ok,
    contentType: response.headers.get("content-type") ?? "",
    invocationId: response.headers.get("x-restate-id"),
    text,
  };
}
