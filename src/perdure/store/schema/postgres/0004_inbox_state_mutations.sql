-- An inbox entry can be a state replacement queued by the admin API behind the key's lock.
ALTER TABLE inbox ADD COLUMN state_mutation BYTEA
