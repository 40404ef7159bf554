// State of virtual objects and workflows, per key: read (decoded as JSON or UTF-8 where it
// is, hex otherwise), edit one entry, add or delete one, clear the key. Every change is one
// `POST /services/{svc}/state`, which replaces the whole state of the key.

import { admin, query, queryOne } from "../api.js";
import { h, invocationLink, link, message, options, panel, Slot, table, valueBlock } from "../dom.js";
import { decodeHex, hexToBytes, textToBytes } from "../format.js";
import { lit } from "../sql.js";

export const title = "State";

const FORMATS = [["json", "JSON"], ["text", "text (UTF-8)"], ["hex", "hex bytes"]];

/** The bytes `text` stands for in `format`; throws with a readable message. */
export function encodeValue(text, format) {
  if (format === "json") {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`not valid JSON: ${error.message}`);
    }
    return textToBytes(JSON.stringify(parsed));
  }
  if (format === "hex") return hexToBytes(text);
  return textToBytes(text);
}

const stateHref = (service, key) =>
  `/ui/state?service=${encodeURIComponent(service)}${key !== undefined ? `&key=${encodeURIComponent(key)}` : ""}`;

export function mount(root, { params, navigate, refreshNow }) {
  let service = params.get("service") ?? "";
  const key = params.get("key");
  let entries = []; // the rows last shown: the base of every replacement
  let editing = false;

  const serviceSelect = h("select", {
    id: "state-service",
    onchange: () => navigate(stateHref(serviceSelect.value)),
  });
  const keyFilter = h("input", { placeholder: "filter keys", oninput: () => renderKeys() });
  const openKey = h("input", { id: "state-open-key", placeholder: "key" });
  const keysSlot = new Slot({ class: "keys", id: "state-keys" });
  const stateSlot = new Slot({ id: "state-entries" });
  const lockSlot = new Slot({ id: "state-lock" });
  const outcome = h("div", { id: "state-outcome" });
  let keyRows = [];

  function renderKeys() {
    const wanted = keyFilter.value.trim();
    const shown = keyRows.filter((r) => !wanted || String(r.service_key).includes(wanted));
    keysSlot.render({ shown, key }, () => (shown.length
      ? shown.map((r) => h("a", { href: stateHref(service, r.service_key), class: r.service_key === key ? "active" : null, dataset: { key: r.service_key } },
        h("span", { class: "mono" }, r.service_key), h("span", { class: "muted" }, String(r.entries))))
      : h("div", { class: "empty" }, service ? "No key of this service has state." : "Pick a service.")));
  }

  let lockedBy = null; // the invocation holding the key, as of the last refresh

  async function replaceState(newEntries, what) {
    const newState = {};
    for (const [name, bytes] of newEntries) newState[name] = Array.from(bytes);
    try {
      const answer = await admin("POST", `/services/${encodeURIComponent(service)}/state`, { object_key: key, new_state: newState });
      // On a locked key the change waits in the key's inbox and lands once the key is free.
      const queued = lockedBy ? `; it waits for ${lockedBy} to end, then applies` : "";
      outcome.replaceChildren(message("ok", `${what}: accepted (HTTP ${answer.status})${queued}.`));
      close(); // before the refresh, so it redraws what the server now has
    } catch (error) {
      outcome.replaceChildren(message("error", `${what} failed (HTTP ${error.status ?? "?"}): ${error.message}`));
    }
    refreshNow();
  }

  const currentEntries = () => entries.map((e) => [e.key, hexToBytes(e.value ?? "")]);

  function editor({ name, decoded, isNew }) {
    const nameInput = isNew ? h("input", { placeholder: "state key", class: "state-name" }) : null;
    const format = h("select", { class: "state-format" });
    options(format, FORMATS);
    format.value = decoded.kind === "hex" ? "hex" : decoded.kind === "text" ? "text" : "json";
    const text = h("textarea", { rows: 6, class: "state-value" });
    text.value = decoded.text;
    const problem = h("div");
    const box = h(
      "div",
      { class: "editor" },
      nameInput ? h("label", { class: "field" }, "Name", nameInput) : null,
      text,
      h("div", { class: "row" },
        h("label", { class: "field" }, "Value as", format),
        h("button", {
          type: "button", class: "primary state-save",
          onclick: async () => {
            const entryName = isNew ? nameInput.value.trim() : name;
            if (!entryName) {
              problem.replaceChildren(message("error", "Give the entry a name."));
              return;
            }
            let bytes;
            try {
              bytes = encodeValue(text.value, format.value);
            } catch (error) {
              problem.replaceChildren(message("error", `The value is ${error.message}`));
              return;
            }
            const next = currentEntries().filter(([n]) => n !== entryName);
            next.push([entryName, bytes]);
            await replaceState(next, `Save ${entryName}`);
          },
        }, "Save"),
        h("button", { type: "button", onclick: () => close() }, "Cancel")),
      problem,
    );
    return box;
  }

  let openEditor = null;
  function open(host, spec) {
    close();
    editing = true;
    openEditor = { host, previous: [...host.childNodes] };
    host.replaceChildren(editor(spec));
  }
  function close() {
    if (openEditor) openEditor.host.replaceChildren(...openEditor.previous);
    openEditor = null;
    editing = false;
    stateSlot.key = null; // redraw from the server's current state
  }

  function entriesView(rows) {
    const addHost = h("div");
    return [
      table(
        [
          { label: "Name", cell: (r) => h("code", null, r.key) },
          { label: "Value", class: "grow", cell: (r) => h("div", { class: "value-cell" }, valueBlock(decodeHex(r.value ?? ""))) },
          { label: "Bytes", class: "num", cell: (r) => String(r.value_length ?? 0) },
          {
            label: "",
            cell: (r) => h("div", { class: "actions" },
              h("button", {
                type: "button", class: "state-edit",
                onclick: (event) => open(event.target.closest("tr").querySelector(".value-cell"), { name: r.key, decoded: decodeHex(r.value ?? "") }),
              }, "Edit"),
              h("button", {
                type: "button", class: "danger state-delete",
                onclick: () => {
                  if (window.confirm(`Delete the entry '${r.key}' of ${service}/${key}?`)) {
                    replaceState(currentEntries().filter(([n]) => n !== r.key), `Delete ${r.key}`);
                  }
                },
              }, "Delete")),
          },
        ],
        rows,
        { empty: "This key has no state.", rowProps: (r) => ({ dataset: { name: r.key } }) },
      ),
      h("div", { class: "actions", style: "margin-top: 10px" },
        h("button", { type: "button", id: "state-add", onclick: () => open(addHost, { isNew: true, decoded: { kind: "json", text: "" } }) }, "Add entry"),
        h("button", {
          type: "button", class: "danger", id: "state-clear",
          onclick: () => {
            if (window.confirm(`Clear all state of ${service}/${key}?`)) replaceState([], `Clear ${service}/${key}`);
          },
        }, "Clear key")),
      addHost,
    ];
  }

  root.append(
    h("h1", null, "State", key !== null ? h("span", { class: "sub mono" }, `${service}/${key}`) : null),
    h("div", { class: "split" },
      panel(null,
        h("label", { class: "field" }, "Virtual object or workflow", serviceSelect),
        h("form", {
          class: "row", style: "margin: 10px 0",
          onsubmit: (event) => {
            event.preventDefault();
            if (service && openKey.value !== "") navigate(stateHref(service, openKey.value));
          },
        }, openKey, h("button", { type: "submit" }, "Open key")),
        keyFilter, keysSlot.el),
      key === null
        ? panel(null, h("div", { class: "empty" }, "Pick a key on the left, or open one by name."))
        : panel(null,
          h("div", { class: "row" },
            link(`/ui/invocations?service=${encodeURIComponent(service)}&key=${encodeURIComponent(key)}`, "invocations of this key")),
          lockSlot.el, outcome, stateSlot.el)),
  );

  return {
    async refresh() {
      const services = await query("SELECT name, ty FROM sys_service WHERE ty = 'virtual_object' OR ty = 'workflow' ORDER BY name");
      options(serviceSelect, services.map((s) => [s.name, `${s.name} (${s.ty.replace("_", " ")})`]), { blank: "pick one" });
      if (!service && services.length) {
        service = services[0].name;
        navigate(stateHref(service), { replace: true });
        return;
      }
      serviceSelect.value = service;
      keyRows = service
        ? await query(`SELECT service_key, COUNT(*) AS entries FROM state WHERE service_name = ${lit(service)} GROUP BY service_key ORDER BY service_key LIMIT 500`)
        : [];
      renderKeys();
      if (key === null) return;
      const where = `service_name = ${lit(service)} AND service_key = ${lit(key)}`;
      const lock = await queryOne(`SELECT invocation_id FROM sys_keyed_service_status WHERE ${where}`);
      lockedBy = lock ? lock.invocation_id : null;
      const waiting = await queryOne(`SELECT COUNT(*) AS n FROM sys_inbox WHERE ${where}`);
      lockSlot.render({ lock, waiting }, () => (lock
        ? message("info", h("span", null, "Locked by ", invocationLink(lock.invocation_id),
          `${Number(waiting?.n) ? `, ${waiting.n} waiting in the inbox` : ""}: changes wait until it ends.`))
        : null));
      if (editing) return; // keep the open editor; redraw once it closes
      entries = await query(`SELECT key, value, value_length FROM state WHERE ${where} ORDER BY key`);
      stateSlot.render(entries, entriesView);
    },
  };
}
