-- A CallInvocationId notification's callee id, so that the views can join a call entry to
-- its callee's invocation row (its entry_json shows the callee's target and retentions).
-- Rows written before this migration have none: their calls show no callee id.
ALTER TABLE journal ADD COLUMN callee_id TEXT COLLATE "C";
