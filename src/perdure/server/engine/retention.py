"""The cleaner: purges completed invocations whose retention ended (surfaces §3.1).

Run periodically (`cleanup_interval_ms`, RESTATE_WORKER__CLEANUP_INTERVAL) as a `Cleanup`
command. A completed invocation past its completion retention is purged (its idempotency
key or workflow key executes again afterwards); one past only its journal retention
loses its journal and keeps its status and result. Work per pass is bounded so one pass
never holds the writer for long; the rest goes in the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from perdure.server.engine.commands import Cleanup
from perdure.server.engine.invocations import purge
from perdure.server.engine.txn import EngineTxn

logger = logging.getLogger(__name__)

BATCH = 500


def cleanup(tx: EngineTxn, cmd: Cleanup) -> int:
    """Purge what expired; return how many invocations were touched."""
    touched = 0
    for row in tx.store.expired_completions(tx.now, BATCH):
        purge(tx, tx.known(row))
        touched += 1
    for row in tx.store.expired_journals(tx.now, BATCH):
        tx.store.delete_journal(row.id)
        tx.put(replace(tx.known(row), journal_length=0, commands=0))
        touched += 1
    if touched:
        logger.info("cleaner purged or trimmed %d completed invocations", touched)
    return touched
