-- Named signals (protocol V6 SendSignal/SignalNotification by name): a suspension can wait
-- on names, and a journal's signal notification can carry one.
ALTER TABLE invocations ADD COLUMN waiting_named_signals TEXT NOT NULL DEFAULT '[]';
ALTER TABLE journal ADD COLUMN signal_name TEXT;
-- What restate's sys_invocation shows of the last failed attempt and of the attempts.
ALTER TABLE invocations ADD COLUMN last_failure_stacktrace TEXT;
ALTER TABLE invocations ADD COLUMN last_failure_command_index INTEGER;
ALTER TABLE invocations ADD COLUMN last_failure_command_name TEXT;
ALTER TABLE invocations ADD COLUMN last_failure_command_type INTEGER;
ALTER TABLE invocations ADD COLUMN last_failure_doc_code TEXT;
ALTER TABLE invocations ADD COLUMN first_attempt_at INTEGER;
ALTER TABLE invocations ADD COLUMN last_attempt_at INTEGER
