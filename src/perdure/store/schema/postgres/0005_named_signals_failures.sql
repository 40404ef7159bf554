-- Named signals (protocol V6 SendSignal/SignalNotification by name): a suspension can wait
-- on names, and a journal's signal notification can carry one.
ALTER TABLE invocations ADD COLUMN waiting_named_signals TEXT[] COLLATE "C" NOT NULL DEFAULT '{}';
ALTER TABLE journal ADD COLUMN signal_name TEXT COLLATE "C";
-- What restate's sys_invocation shows of the last failed attempt and of the attempts.
ALTER TABLE invocations ADD COLUMN last_failure_stacktrace TEXT COLLATE "C";
ALTER TABLE invocations ADD COLUMN last_failure_command_index BIGINT;
ALTER TABLE invocations ADD COLUMN last_failure_command_name TEXT COLLATE "C";
ALTER TABLE invocations ADD COLUMN last_failure_command_type BIGINT;
ALTER TABLE invocations ADD COLUMN last_failure_doc_code TEXT COLLATE "C";
ALTER TABLE invocations ADD COLUMN first_attempt_at BIGINT;
ALTER TABLE invocations ADD COLUMN last_attempt_at BIGINT
