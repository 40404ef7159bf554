// Deployments and services (GET /deployments, GET /services) with their handlers, and a
// form that invokes a handler through the console's proxy to the ingress (call or send).

import { admin, invoke } from "../api.js";
import { h, invocationLink, keyValues, message, options, panel, Slot, table, time, valueBlock } from "../dom.js";
import { decodeBytes, textToBytes } from "../format.js";

export const title = "Services";

const KEYED = new Set(["VirtualObject", "Workflow"]);

function deploymentsView(deployments) {
  return table(
    [
      { label: "Deployment", cell: (d) => h("code", null, d.id) },
      { label: "Endpoint", cell: (d) => h("code", null, d.uri) },
      { label: "Protocol", cell: (d) => `${d.protocol_type}, ${d.http_version}, v${d.min_protocol_version}–v${d.max_protocol_version}` },
      { label: "Services", cell: (d) => d.services.map((s) => `${s.name} (rev ${s.revision})`).join(", ") },
      { label: "Registered", cell: (d) => time(d.created_at) },
    ],
    deployments,
    { empty: "No deployment registered.", rowProps: (d) => ({ dataset: { id: d.id } }) },
  );
}

function serviceView(service, pick) {
  return h(
    "section",
    { class: "panel service", dataset: { service: service.name } },
    h("h2", null, service.name, h("span", { class: "sub muted" }, ` ${service.ty}${service.public ? "" : " · private"}`)),
    keyValues([
      ["Deployment", h("code", null, service.deployment_id)],
      ["Revision", String(service.revision)],
      ["Retention", `journal ${service.journal_retention}, idempotency ${service.idempotency_retention}`],
      ["Timeouts", `inactivity ${service.inactivity_timeout}, abort ${service.abort_timeout}`],
      ["Documentation", service.documentation],
    ]),
    table(
      [
        { label: "Handler", cell: (x) => h("code", null, x.name) },
        { label: "Kind", cell: (x) => x.ty ?? "" },
        { label: "Input", cell: (x) => x.input_description },
        { label: "Output", cell: (x) => x.output_description },
        { label: "", cell: (x) => h("button", { type: "button", class: "invoke-pick", onclick: () => pick(service.name, x.name) }, "Invoke…") },
      ],
      service.handlers,
      { empty: "No handlers.", rowProps: (x) => ({ dataset: { handler: x.name } }) },
    ),
  );
}

/** The ingress path (each part percent-encoded) for a call or a send. */
export function ingressPath(service, key, handler, mode) {
  const parts = [service, ...(key === null ? [] : [key]), handler, ...(mode === "send" ? ["send"] : [])];
  return parts.map(encodeURIComponent).join("/");
}

export function mount(root, { params }) {
  let services = [];
  const serviceSelect = h("select", { name: "service", id: "invoke-service", onchange: () => syncForm() });
  const handlerSelect = h("select", { name: "handler", id: "invoke-handler" });
  const keyInput = h("input", { name: "key", id: "invoke-key", placeholder: "object or workflow key" });
  const keyField = h("label", { class: "field" }, "Key", keyInput);
  const body = h("textarea", { name: "body", id: "invoke-body", rows: 5, placeholder: "JSON body, e.g. \"Ann\" or {\"amount\": 5}; empty for none" });
  const modeCall = h("input", { type: "radio", name: "mode", value: "call", checked: true });
  const modeSend = h("input", { type: "radio", name: "mode", value: "send" });
  const idempotency = h("input", { name: "idempotency", id: "invoke-idempotency", placeholder: "optional" });
  const delay = h("input", { name: "delay", id: "invoke-delay", placeholder: "e.g. 10s (send only)" });
  const result = h("div", { id: "invoke-result" });

  function syncForm() {
    const service = services.find((s) => s.name === serviceSelect.value);
    options(handlerSelect, (service?.handlers ?? []).map((x) => x.name));
    keyField.hidden = !service || !KEYED.has(service.ty);
  }

  function pick(service, handler) {
    serviceSelect.value = service;
    syncForm();
    handlerSelect.value = handler;
    body.focus();
    body.closest("form").scrollIntoView({ block: "start", behavior: "smooth" });
  }

  async function submit(event) {
    event.preventDefault();
    const service = services.find((s) => s.name === serviceSelect.value);
    if (!service) return;
    const keyed = KEYED.has(service.ty);
    if (keyed && keyInput.value === "") {
      result.replaceChildren(message("error", `${service.name} is a ${service.ty}: give a key.`));
      return;
    }
    const mode = modeSend.checked ? "send" : "call";
    const headers = {};
    let payload;
    if (body.value.trim()) {
      try {
        JSON.parse(body.value);
      } catch (error) {
        result.replaceChildren(message("error", `The body is not valid JSON: ${error.message}`));
        return;
      }
      payload = textToBytes(body.value);
      headers["content-type"] = "application/json";
    }
    if (idempotency.value.trim()) headers["idempotency-key"] = idempotency.value.trim();
    let path = ingressPath(service.name, keyed ? keyInput.value : null, handlerSelect.value, mode);
    if (mode === "send" && delay.value.trim()) path += `?delay=${encodeURIComponent(delay.value.trim())}`;
    result.replaceChildren(message("info", `${mode === "send" ? "Sending" : "Calling"} ${decodeURIComponent(path)}…`));
    let answer;
    try {
      answer = await invoke(path, { body: payload, headers });
    } catch (error) {
      result.replaceChildren(message("error", `The request failed: ${error.message}`));
      return;
    }
    let id = answer.invocationId;
    if (!id && answer.contentType.includes("json")) {
      try {
        id = JSON.parse(answer.text).invocationId;
      } catch {
        // a handler's output that is not JSON
      }
    }
    result.replaceChildren(
      message(answer.ok ? "ok" : "error", `HTTP ${answer.status} from the ingress`),
      id ? h("div", null, "Invocation: ", invocationLink(id)) : null,
      valueBlock(decodeBytes(textToBytes(answer.text))),
    );
  }

  const deploymentsSlot = new Slot({ id: "deployments" });
  const servicesSlot = new Slot({ id: "services", class: "services" });
  root.append(
    h("h1", null, "Services"),
    panel("Invoke a handler", h("form", { id: "invoke-form", onsubmit: submit },
      h("div", { class: "row" },
        h("label", { class: "field" }, "Service", serviceSelect),
        h("label", { class: "field" }, "Handler", handlerSelect),
        keyField,
        h("label", { class: "field" }, "Idempotency key", idempotency),
        h("label", { class: "field" }, "Delay", delay)),
      h("label", { class: "field", style: "margin: 8px 0" }, "Body", body),
      h("div", { class: "row" },
        h("label", null, modeCall, " call (wait for the result)"),
        h("label", null, modeSend, " send (start it, answer at once)"),
        h("button", { type: "submit", class: "primary", id: "invoke-submit" }, "Invoke")),
      result)),
    panel("Deployments", deploymentsSlot.el),
    servicesSlot.el,
  );

  let first = true;
  return {
    async refresh() {
      const [deployments, listed] = await Promise.all([admin("GET", "/deployments"), admin("GET", "/services")]);
      services = listed.body.services;
      options(serviceSelect, services.map((s) => s.name));
      if (first) {
        first = false;
        if (params.get("service")) serviceSelect.value = params.get("service");
        syncForm();
        if (params.get("handler")) handlerSelect.value = params.get("handler");
      } else {
        syncForm(); // keeps the chosen handler while it still exists
      }
      deploymentsSlot.render(deployments.body.deployments, deploymentsView);
      servicesSlot.render(services, (all) => (all.length ? all.map((s) => serviceView(s, pick)) : null));
    },
  };
}
