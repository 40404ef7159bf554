-- An inbox entry can be a state replacement queued by the admin API behind the key's lock.
ALTER TABLE inbox ADD COLUMN state_mutation BLOB;
-- Views are no longer created by migrations: the store installs them at every open.
DROP VIEW IF EXISTS sys_invocation;
DROP VIEW IF EXISTS sys_journal;
DROP VIEW IF EXISTS sys_state;
DROP VIEW IF EXISTS sys_inbox;
DROP VIEW IF EXISTS sys_keyed_service_status;
DROP VIEW IF EXISTS sys_promise;
DROP VIEW IF EXISTS sys_service;
DROP VIEW IF EXISTS sys_deployment
