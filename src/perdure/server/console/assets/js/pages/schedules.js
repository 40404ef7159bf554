// Schedules: every cron schedule with its next and last tick and the last tick's invocation
// (GET /schedules), with pause / resume / trigger.

import { admin } from "../api.js";
import { h, invocationLink, message, panel, Slot, table, time } from "../dom.js";

export const title = "Schedules";

export function mount(root, { refreshNow }) {
  const slot = new Slot({ id: "schedules" });
  const notice = h("div", { id: "schedule-notice" });
  root.append(h("h1", null, "Schedules"), notice, panel(null, slot.el));

  async function act(name, operation) {
    const method = operation === "trigger" ? "POST" : "PATCH";
    try {
      const { body } = await admin(method, `/schedules/${encodeURIComponent(name)}/${operation}`);
      const what = operation === "trigger" ? `started ${body.invocation_id}` : `${operation}d`;
      notice.replaceChildren(message("ok", `${name}: ${what}`));
    } catch (error) {
      notice.replaceChildren(message("error", `${name}: ${error.message}`));
    }
    await refreshNow();
  }

  const button = (s, operation) =>
    h("button", { type: "button", dataset: { action: operation }, onclick: () => act(s.name, operation) }, operation);

  return {
    async refresh() {
      const rows = (await admin("GET", "/schedules")).body.schedules;
      slot.render(rows, () => table(
        [
          { label: "Name", cell: (s) => h("code", null, s.name) },
          { label: "Cron", cell: (s) => h("code", null, `${s.cron} (${s.timezone})`) },
          { label: "Target", cell: (s) => s.target },
          { label: "State", cell: (s) => h("span", { class: `badge ${s.paused ? "paused" : "running"}` }, s.paused ? "paused" : "active") },
          { label: "Next tick", cell: (s) => (s.next_fire_at ? time(s.next_fire_at) : "") },
          { label: "Last tick", cell: (s) => (s.last_fire_at ? time(s.last_fire_at) : "") },
          { label: "Last invocation", cell: (s) => (s.last_invocation_id ? invocationLink(s.last_invocation_id) : "") },
          { label: "Fired / skipped", cell: (s) => `${s.fired} / ${s.skipped}` },
          { label: "", cell: (s) => [button(s, s.paused ? "resume" : "pause"), " ", button(s, "trigger")] },
        ],
        rows,
        { empty: "No schedules.", rowProps: (s) => ({ dataset: { schedule: s.name } }) },
      ));
    },
  };
}
