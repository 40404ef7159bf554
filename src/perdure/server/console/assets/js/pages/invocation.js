// One invocation: who it is, why it is where it is, its journal as a timeline, its call
// tree (caller chain and children), and the operator's actions on it.

import { admin, query, queryOne } from "../api.js";
import { h, invocationLink, keyValues, link, message, panel, Slot, statusBadge, time, valueBlock, valueInline } from "../dom.js";
import { oneLine } from "../format.js";
import { readJournal } from "../journal.js";
import { inList, lit } from "../sql.js";

export const title = "Invocation";

const TREE_DEPTH = 3;
const ANCESTORS = 10;
const ACTIONS = [
  // [label, admin operation, statuses it applies to, confirmation question]
  ["Cancel", "cancel", null, "Cancel this invocation? Its handler gets a cancellation and may compensate."],
  ["Kill", "kill", null, "Kill this invocation now? It completes with a failure and runs no compensation."],
  ["Pause", "pause", ["running", "backing-off", "suspended"], null],
  ["Resume", "resume", ["paused", "suspended", "backing-off"], null],
  ["Retry now", "resume", ["backing-off"], null],
  ["Purge", "purge", ["completed"], "Purge this invocation? Its journal and result are deleted for good."],
];

function applies(statuses, status) {
  return statuses === null ? status !== "completed" : statuses.includes(status);
}

function factValue(value) {
  if (value && typeof value === "object" && "time" in value) return time(new Date(value.time).toISOString());
  if (value && typeof value === "object" && "kind" in value) {
    return oneLine(value).length <= 100 ? valueInline(value) : valueBlock(value);
  }
  if (typeof value === "string" && value.startsWith("inv_")) return invocationLink(value);
  return h("code", null, String(value));
}

function resultView(result) {
  switch (result?.kind) {
    case "failure":
      return [h("span", { class: "badge failure" }, "failure"), " ", `[${result.code}] ${result.message}`];
    case "value":
      return [h("span", { class: "badge success" }, "result"), " ", factValue(result.value)];
    case "void":
      return h("span", { class: "badge success" }, "done");
    case "invocation":
      return ["invocation ", invocationLink(result.id)];
    case "keys":
      return ["keys: ", h("code", null, result.keys.join(", ") || "(none)")];
    default:
      return null;
  }
}

const resultLine = (result) => (result ? h("div", { class: "result" }, resultView(result)) : null);

const entryRef = (item) =>
  h("a", { href: `${location.pathname}${location.search}#entry-${item.index}` }, `#${item.index} ${item.kind}: ${item.label}${item.name ? ` '${item.name}'` : ""}`);

function timeline(items, completed) {
  if (!items.length) return h("div", { class: "empty" }, "The journal is empty (the invocation has not started, or was purged).");
  return h(
    "ol",
    { class: "timeline", id: "journal" },
    items.map((item) => {
      const waiting = !completed && item.waiting.length > 0;
      const classes = [item.kind.toLowerCase(), waiting ? "waiting" : ""].join(" ");
      return h(
        "li",
        { class: classes, id: `entry-${item.index}`, dataset: { index: String(item.index), type: `${item.kind}: ${item.label}` } },
        h("div", { class: "idx" }, `#${item.index}`),
        h(
          "div",
          null,
          h("div", { class: "head" },
            h("span", { class: "badge kind" }, item.kind || "entry"),
            h("span", { class: "type" }, item.label),
            item.name ? h("span", { class: "name" }, item.name) : null,
            h("span", { class: "time" }, time(item.appendedAt))),
          h(
            "div",
            { class: "detail" },
            item.facts.map(([label, value]) => h("div", null, h("span", { class: "muted" }, `${label}: `), factValue(value))),
            item.signal ? h("div", null, h("span", { class: "badge paused" }, item.signal)) : null,
            resultLine(item.result),
            item.completedBy.map((n) => h("div", { class: "pair" }, "↳ answered by ", entryRef(n),
              n.result?.kind === "invocation" ? null : n.result ? [" ", resultView(n.result)] : null)),
            waiting ? h("div", { class: "pair" }, h("span", { class: "badge suspended" }, "awaiting"),
              ` completion ${item.waiting.join(", ")}: not there yet`) : null,
            item.completes ? h("div", { class: "pair" }, "↳ completes ", entryRef(item.completes)) : null,
            !item.json && item.rawLength !== undefined ? h("div", { class: "muted" }, `${item.rawLength} bytes, not decoded`) : null,
          ),
        ),
      );
    }),
  );
}

function treeNode(node, hereId) {
  return h(
    "li",
    { dataset: { id: node.id } },
    h("span", { class: node.id === hereId ? "here" : null }, invocationLink(node.id)), " ",
    h("span", null, node.target ?? ""), " ", statusBadge(node.status, node.completion_result),
    node.children?.length ? h("ul", { class: "tree" }, node.children.map((c) => treeNode(c, hereId))) : null,
  );
}

async function callTree(row) {
  const columns = "id, target, status, completion_result, invoked_by_id, created_at";
  const chain = [];
  let parentId = row.invoked_by_id;
  while (parentId && chain.length < ANCESTORS) {
    const parent = await queryOne(`SELECT ${columns} FROM sys_invocation WHERE id = ${lit(parentId)}`);
    if (!parent) {
      chain.unshift({ id: parentId, target: "(no longer stored)" });
      break;
    }
    chain.unshift(parent);
    parentId = parent.invoked_by_id;
  }
  const here = { ...row, children: [] };
  let level = [here];
  for (let depth = 0; depth < TREE_DEPTH && level.length; depth += 1) {
    const rows = await query(
      `SELECT ${columns} FROM sys_invocation WHERE ${inList("invoked_by_id", level.map((n) => n.id))} ORDER BY created_at, id LIMIT 200`,
    );
    const byId = new Map(level.map((n) => [n.id, n]));
    const next = [];
    for (const child of rows) {
      const node = { ...child, children: [] };
      byId.get(child.invoked_by_id)?.children.push(node);
      next.push(node);
    }
    level = next;
  }
  let top = here;
  for (const ancestor of [...chain].reverse()) top = { ...ancestor, children: [top] };
  return top;
}

/** Why the invocation is in its status: `{facts}` (what was read, for change detection), `{view}`. */
async function whyDetails(row, items) {
  if (row.status === "pending" && row.target_service_key !== undefined) {
    const service = lit(row.target_service_name);
    const key = lit(row.target_service_key);
    const lock = await queryOne(`SELECT invocation_id FROM sys_keyed_service_status WHERE service_name = ${service} AND service_key = ${key}`);
    const inbox = await query(`SELECT id FROM sys_inbox WHERE service_name = ${service} AND service_key = ${key} ORDER BY sequence_number`);
    const position = inbox.findIndex((r) => r.id === row.id);
    return {
      facts: { lock, inbox },
      view: [
        `Waiting in the inbox of ${row.target_service_name}/${row.target_service_key}`,
        position >= 0 ? ` (position ${position + 1} of ${inbox.length})` : "",
        lock ? [" behind the invocation holding the key: ", invocationLink(lock.invocation_id)] : ".",
      ],
    };
  }
  return { facts: null, view: whyText(row, items) };
}

function whyText(row, items) {
  switch (row.status) {
    case "pending":
      return "Waiting to start.";
    case "scheduled":
      return ["Scheduled to start at ", time(row.scheduled_start_at), "."];
    case "backing-off":
      return [`The last attempt failed (retried ${row.retry_count ?? 0}×); the next attempt starts at `, time(row.next_retry_at), ". 'Retry now' starts it at once."];
    case "paused":
      return "Paused: no attempt runs until it is resumed.";
    case "suspended": {
      const awaited = items.filter((i) => i.waiting.length);
      return awaited.length
        ? ["Suspended, waiting for ", awaited.map((i, n) => [n ? ", " : "", entryRef(i)]), "."]
        : "Suspended, waiting for a notification.";
    }
    case "running":
      return "An attempt is running.";
    default:
      return null;
  }
}

function header(row) {
  const failed = row.completion_result === "failure";
  return [
    h("div", { class: "row" }, statusBadge(row.status, row.completion_result), h("strong", null, row.target)),
    keyValues([
      ["Invocation", h("code", { id: "invocation-id" }, row.id)],
      ["Status", h("span", { id: "invocation-status" }, row.status)],
      ["Created", time(row.created_at)],
      ["Modified", time(row.modified_at)],
      ["Completed", time(row.completed_at)],
      ["Invoked by", row.invoked_by_id ? [invocationLink(row.invoked_by_id), ` (${row.invoked_by_target ?? ""})`] : row.invoked_by],
      ["Idempotency key", row.idempotency_key],
      ["Retry count", String(row.retry_count ?? 0)],
      ["Next retry", time(row.next_retry_at)],
      ["Last failure", row.last_failure ? h("span", { class: "failure-text" }, `${row.last_failure}${row.last_failure_error_code ? ` (code ${row.last_failure_error_code})` : ""}`) : null],
      ["Result", failed ? h("span", { class: "failure-text", id: "completion-failure" }, row.completion_failure) : row.completion_result],
      ["Pinned deployment", row.pinned_deployment_id ? link("/ui/services", row.pinned_deployment_id) : null],
      ["Protocol version", row.pinned_service_protocol_version],
      ["Journal", row.journal_size !== undefined ? `${row.journal_size} entries (${row.journal_commands_size ?? "?"} commands)` : null],
    ]),
  ];
}

export function mount(root, { args, refreshNow }) {
  const [id] = args;
  let status = null;
  const headerSlot = new Slot({ id: "invocation-header" });
  const whySlot = new Slot({ id: "invocation-why" });
  const journalSlot = new Slot();
  const treeSlot = new Slot({ id: "call-tree" });
  const outcome = h("div", { id: "action-outcome" });
  const buttons = ACTIONS.map(([label, operation, statuses, question]) =>
    h("button", {
      type: "button",
      class: operation === "kill" || operation === "purge" ? "danger" : null,
      dataset: { action: label.toLowerCase().replace(" ", "-") },
      onclick: async () => {
        if (question && !window.confirm(question)) return;
        for (const b of buttons) b.disabled = true;
        try {
          const answer = await admin("PATCH", `/invocations/${encodeURIComponent(id)}/${operation}`);
          outcome.replaceChildren(message("ok", `${label}: accepted by the server (HTTP ${answer.status}).`));
        } catch (error) {
          outcome.replaceChildren(message("error", `${label} failed (HTTP ${error.status ?? "?"}): ${error.message}`));
        } finally {
          for (const b of buttons) b.disabled = false;
          refreshNow();
        }
      },
    }, label),
  );
  buttons.forEach((b, n) => { b.dataset.statuses = ACTIONS[n][2]?.join(" ") ?? ""; });

  root.append(
    h("h1", null, "Invocation", h("span", { class: "sub mono" }, id)),
    panel(null, headerSlot.el, whySlot.el),
    panel("Actions", h("div", { class: "actions" }, buttons), outcome),
    h("div", { class: "main-side" }, panel("Journal", journalSlot.el), panel("Call tree", treeSlot.el)),
  );

  function markApplicable() {
    buttons.forEach((b, n) => {
      const fits = status !== null && applies(ACTIONS[n][2], status);
      b.classList.toggle("primary", fits && ACTIONS[n][1] !== "kill" && ACTIONS[n][1] !== "purge");
      b.classList.toggle("quiet", !fits);
      b.title = fits ? "" : `not expected to apply to a ${status ?? "missing"} invocation; the server decides`;
    });
  }

  return {
    async refresh() {
      const row = await queryOne(`SELECT * FROM sys_invocation WHERE id = ${lit(id)}`);
      if (!row) {
        status = null;
        markApplicable();
        headerSlot.render(null, () => message("info", `No invocation ${id} is stored: it was purged, its retention ended, or the id is wrong.`));
        whySlot.render(null, () => null);
        journalSlot.render(null, () => h("div", { class: "empty" }, "No journal."));
        treeSlot.render(null, () => h("div", { class: "empty" }, "—"));
        return;
      }
      status = row.status;
      markApplicable();
      headerSlot.render(row, header);
      const journal = await query(
        "SELECT index, entry_type, name, appended_at, entry_json, raw_length " +
        `FROM sys_journal WHERE id = ${lit(id)} ORDER BY index`,
      );
      const items = readJournal(journal);
      journalSlot.render({ journal, completed: row.status === "completed" }, () => timeline(items, row.status === "completed"));
      const why = await whyDetails(row, items);
      whySlot.render({ row, journal, facts: why.facts }, () => (why.view ? message("info", h("span", { class: "why" }, why.view)) : null));
      const tree = await callTree(row);
      treeSlot.render(tree, () => [
        h("ul", { class: "tree root" }, treeNode(tree, id)),
        h("div", { class: "muted" }, "Caller chain above, calls and sends this invocation made below."),
      ]);
    },
  };
}
