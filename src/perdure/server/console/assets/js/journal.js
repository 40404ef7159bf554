// Reading a journal (sys_journal rows): what each entry did, decoded from its entry_json
// (restate's form: `{"Command": {"Call": {…}}}`, `{"Notification": {"Completion": {"Run":
// {…}}}}`, snake_case fields, bytes as arrays of numbers), and which command each
// notification completes, so the timeline reads "Call … → result".

import { decodeBytes } from "./format.js";

const CANCEL_SIGNAL = 1;

const bytes = (array) => decodeBytes(Uint8Array.from(array ?? []));

/** The entry's own fields, unwrapped from its Command / Notification variant. */
function parse(row) {
  if (!row.entry_json) return null;
  let entry;
  try {
    entry = JSON.parse(row.entry_json);
  } catch {
    return null;
  }
  const only = (variants) => (variants ? Object.values(variants)[0] ?? null : null);
  if (entry?.Command) return only(entry.Command);
  if (entry?.Notification?.Completion) return only(entry.Notification.Completion);
  return entry?.Notification?.Signal ?? null;
}

/** `{kind: "value"|"failure"|"void"}` of a result: "Void", {Success: bytes}, {Failure: …}. */
function resultValue(result) {
  if (result === "Void") return { kind: "void" };
  if (result?.Failure) {
    return { kind: "failure", code: result.Failure.code ?? 0, message: result.Failure.message ?? "" };
  }
  if (result?.Success) return { kind: "value", value: bytes(result.Success) };
  return null;
}

/** `{kind: "value"|"failure"|"void"|"invocation"|"keys", ...}` of a result-carrying entry. */
export function resultOf(body) {
  if (!body) return null;
  if (body.invocation_id !== undefined && body.completion_id !== undefined) {
    return { kind: "invocation", id: body.invocation_id };
  }
  if (body.state_keys) return { kind: "keys", keys: body.state_keys };
  // A promise's completion carries its result as `value`.
  return resultValue(body.result ?? body.value);
}

function target(invocationTarget) {
  const t = Object.values(invocationTarget ?? {})[0] ?? {};
  return `${t.name ?? ""}${t.key !== undefined ? `/${t.key}` : ""}/${t.handler ?? ""}`;
}

function attachTarget(value) {
  if (value?.InvocationId) return value.InvocationId;
  if (value?.Workflow) return `${value.Workflow.service_name}/${value.Workflow.key}`;
  const t = value?.IdempotentRequest;
  if (t) {
    const key = t.service_key !== null && t.service_key !== undefined ? `${t.service_key}/` : "";
    return `${t.service_name}/${key}${t.service_handler} (idempotency key ${t.idempotency_key})`;
  }
  return "";
}

const signalName = (id) => (id?.Name !== undefined ? `'${id.Name}'` : String(id?.Index ?? ""));

/** What a command says about itself, as `[label, text]` lines (the result comes separately). */
function commandFacts(label, body) {
  switch (label) {
    case "Input":
      return [["input", bytes(body.payload)]];
    case "Call":
    case "OneWayCall": {
      const request = body.request ?? {};
      const facts = [["target", target(request.invocation_target)], ["argument", bytes(request.parameter)]];
      if (body.invoke_time > 0) facts.push(["at", { time: Number(body.invoke_time) }]);
      if (request.idempotency_key) facts.push(["idempotency key", request.idempotency_key]);
      return facts;
    }
    case "Sleep":
      return body.wake_up_time ? [["wakes up", { time: Number(body.wake_up_time) }]] : [];
    case "GetEagerState":
    case "GetLazyState":
    case "ClearState":
      return [["key", body.key ?? ""]];
    case "SetState":
      return [["key", body.key ?? ""], ["value", bytes(body.value)]];
    case "GetPromise":
    case "PeekPromise":
    case "CompletePromise":
      return [["promise", body.key ?? ""]];
    case "AttachInvocation":
    case "GetInvocationOutput":
      return [["of", attachTarget(body.target)]];
    case "CompleteAwakeable":
      return [["awakeable", body.id ?? ""]];
    case "SendSignal":
      return [["to", body.target_invocation_id ?? ""], ["signal", signalName(body.signal_id)]];
    default:
      return [];
  }
}

/**
 * The journal as timeline items: `{index, kind, label, name, appendedAt, facts, result,
 * completes, completedBy, waiting, signal}`. A command's `completedBy` lists the
 * notifications carrying its result (and, for a call, the callee's id); a notification's
 * `completes` names the command it answers.
 */
export function readJournal(rows) {
  const items = rows.map((row) => {
    const [kind, label] = String(row.entry_type ?? "").split(": ");
    const json = parse(row);
    return {
      index: row.index,
      kind: label === undefined ? "" : kind,
      label: label ?? row.entry_type ?? "?",
      name: row.name ?? json?.name ?? "",
      appendedAt: row.appended_at,
      json,
      rawLength: row.raw_length,
      facts: [],
      result: null,
      completedBy: [],
      completes: null,
      waiting: [],
    };
  });
  const notifications = new Map();
  for (const item of items) {
    if (item.kind !== "Notification" || !item.json) continue;
    if (item.label === "Signal") {
      const id = item.json.id ?? {};
      item.signal = id.Index === CANCEL_SIGNAL ? "cancel" : `signal ${signalName(id)}`;
    } else {
      notifications.set(item.json.completion_id, item);
    }
    item.result = resultOf(item.json);
  }
  for (const item of items) {
    if (item.kind === "Notification" || !item.json) continue;
    item.facts = commandFacts(item.label, item.json);
    // Commands that carry their result inline (Output, eager state, promise completion …).
    if (item.label !== "Input" && item.label !== "SetState") item.result = resultOf(item.json);
    const awaited = [item.json.invocation_id_completion_id, item.json.result_completion_id ?? item.json.completion_id];
    for (const id of awaited) {
      if (id === undefined) continue;
      const notification = notifications.get(id);
      if (notification) {
        item.completedBy.push(notification);
        notification.completes = item;
      } else {
        item.waiting.push(id);
      }
    }
  }
  return items;
}

/** The id of the invocation a Call / OneWayCall started, if its notification is there. */
export function calleeOf(item) {
  const found = item.completedBy.find((n) => n.result?.kind === "invocation");
  return found?.result.id;
}
