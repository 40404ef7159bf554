// Building the page from data: elements with text content only (never HTML strings), so a
// value stored by a handler can never become markup.

import { formatTime, oneLine, relative } from "./format.js";

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** `h("a", {href, class, onclick}, ...children)`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "selected") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export const link = (href, ...children) => h("a", { href }, ...children);

export const invocationLink = (id) =>
  id ? h("a", { href: `/ui/invocations/${encodeURIComponent(id)}`, class: "mono" }, id) : "";

/** A status badge; a completed invocation shows its result (success / failure). */
export function statusBadge(status, result) {
  if (status === "completed" && result) {
    return h("span", { class: `badge ${result}`, title: `completed: ${result}` }, `completed · ${result}`);
  }
  return h("span", { class: `badge ${status ?? ""}` }, status ?? "?");
}

export const time = (value) =>
  value ? h("span", { title: `${value} (${relative(value)})` }, formatTime(value)) : "";

export function panel(title, ...children) {
  return h("section", { class: "panel" }, title ? h("h2", null, title) : null, ...children);
}

export function message(kind, text) {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A table: `columns` are `{label, cell(row), class?}`. */
export function table(columns, rows, { empty = "Nothing to show.", rowProps } = {}) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  return h(
    "table",
    null,
    h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class }, c.label)))),
    h(
      "tbody",
      null,
      rows.map((row) =>
        h("tr", rowProps ? rowProps(row) : null, columns.map((c) => h("td", { class: c.class }, c.cell(row)))),
      ),
    ),
  );
}

export function keyValues(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter(([, value]) => value !== undefined && value !== null && value !== "")
      .map(([label, value]) => [h("dt", null, label), h("dd", null, value)]),
  );
}

/** A decoded value, pretty-printed, with its kind (json, text, hex). */
export function valueBlock(decoded) {
  return h(
    "div",
    { class: "value-wrap" },
    h("pre", { class: "value" }, decoded.kind === "empty" ? "(empty)" : decoded.text),
  );
}

export const valueInline = (decoded) =>
  h("code", { title: decoded.kind === "hex" ? "not UTF-8: shown as hex" : null }, oneLine(decoded));

/**
 * A region re-rendered by live updates only when its data changed, so polling neither
 * flickers nor loses the reader's text selection.
 */
export class Slot {
  constructor(props = {}) {
    this.el = h("div", props);
    this.key = null;
  }

  render(data, build) {
    const key = JSON.stringify(data);
    if (key === this.key) return;
    this.key = key;
    this.el.replaceChildren(...[build(data)].flat().filter((n) => n !== null && n !== undefined));
  }

  showError(error) {
    this.key = null;
    this.el.replaceChildren(message("error", error.message ?? String(error)));
  }
}

/** The select's options, keeping the selection when it is still one of them. */
export function options(select, values, { blank } = {}) {
  const current = select.value;
  const items = blank === undefined ? [] : [h("option", { value: "" }, blank)];
  for (const v of values) {
    const [value, label] = Array.isArray(v) ? v : [v, v];
    items.push(h("option", { value }, label));
  }
  select.replaceChildren(...items);
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}
