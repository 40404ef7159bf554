// Reading a journal (sys_journal rows): what each entry did, decoded from its entry_json
// (the entry's protobuf message as JSON: camelCase fields, bytes in base64), and which
// command each notification completes, so the timeline reads "Call … → result".

import { decodeBase64 } from "./format.js";

const CANCEL_SIGNAL = 1;

function parse(row) {
  if (!row.entry_json) return null;
  try {
    return JSON.parse(row.entry_json);
  } catch {
    return null;
  }
}

/** `{kind: "value"|"failure"|"void"|"invocation"|"keys", ...}` of a result-carrying message. */
export function resultOf(json) {
  if (!json) return null;
  const value = json.value ?? json.completionValue;
  const failure = json.failure ?? json.completionFailure;
  if (failure) return { kind: "failure", code: failure.code ?? 0, message: failure.message ?? "" };
  if (json.invocationId !== undefined && json.completionId !== undefined) {
    return { kind: "invocation", id: json.invocationId };
  }
  if (json.stateKeys || (value && value.keys)) {
    const keys = (json.stateKeys ?? value).keys ?? [];
    return { kind: "keys", keys: keys.map((k) => decodeBase64(k).text) };
  }
  if (value !== undefined) return { kind: "value", value: decodeBase64(value.content ?? "") };
  if (json.void !== undefined) return { kind: "void" };
  return null;
}

const key = (b64) => (b64 === undefined ? "" : decodeBase64(b64).text);

function target(json) {
  const service = json.serviceName ?? "";
  const keyPart = json.key ? `/${json.key}` : "";
  return `${service}${keyPart}/${json.handlerName ?? ""}`;
}

function attachTarget(json) {
  if (json.invocationId) return json.invocationId;
  if (json.workflowTarget) return `${json.workflowTarget.workflowName}/${json.workflowTarget.workflowKey}`;
  const t = json.idempotentRequestTarget;
  if (t) return `${t.serviceName}/${t.serviceKey ? `${t.serviceKey}/` : ""}${t.handlerName} (idempotency key ${t.idempotencyKey})`;
  return "";
}

/** What a command says about itself, as `[label, text]` lines (the result comes separately). */
function commandFacts(label, json) {
  switch (label) {
    case "Input":
      return [["input", json.value ? decodeBase64(json.value.content ?? "") : { kind: "empty", text: "" }]];
    case "Call":
    case "OneWayCall": {
      const facts = [["target", target(json)], ["argument", decodeBase64(json.parameter ?? "")]];
      if (json.invokeTime && Number(json.invokeTime) > 0) facts.push(["at", { time: Number(json.invokeTime) }]);
      if (json.idempotencyKey) facts.push(["idempotency key", json.idempotencyKey]);
      return facts;
    }
    case "Sleep":
      return json.wakeUpTime ? [["wakes up", { time: Number(json.wakeUpTime) }]] : [];
    case "GetEagerState":
    case "GetLazyState":
    case "ClearState":
      return [["key", key(json.key)]];
    case "SetState":
      return [["key", key(json.key)], ["value", decodeBase64(json.value?.content ?? "")]];
    case "GetPromise":
    case "PeekPromise":
    case "CompletePromise":
      return [["promise", json.key ?? ""]];
    case "AttachInvocation":
    case "GetInvocationOutput":
      return [["of", attachTarget(json)]];
    case "CompleteAwakeable":
      return [["awakeable", json.awakeableId ?? ""]];
    case "SendSignal":
      return [["to", json.targetInvocationId ?? ""], ["signal", String(json.name ?? json.idx ?? "")]];
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
    if (item.json.completionId !== undefined) notifications.set(item.json.completionId, item);
    if (item.json.signalId !== undefined) {
      item.signal = item.json.signalId === CANCEL_SIGNAL ? "cancel" : `signal ${item.json.signalId}`;
    } else if (item.json.signalName !== undefined) {
      item.signal = `signal '${item.json.signalName}'`;
    }
    item.result = resultOf(item.json);
  }
  for (const item of items) {
    if (item.kind === "Notification" || !item.json) continue;
    item.facts = commandFacts(item.label, item.json);
    // Commands that carry their result inline (Output, eager state, promise completion …).
    if (item.label !== "Input" && item.label !== "SetState") item.result = resultOf(item.json);
    for (const id of [item.json.invocationIdNotificationIdx, item.json.resultCompletionId]) {
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
