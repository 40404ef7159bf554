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

from perdure.server.commands import Outcome
from perdure.server.engine.core import Engine
from perdure.store.api import WriteTxn

logger = logging.getLogger(__name__)

BATCH = 500


def cleanup(engine: Engine, txn: WriteTxn, outcome: Outcome) -> int:
    """Purge what expired; return how many invocations were touched."""
    now = engine.clock.now_ms()
    touched = 0
    for row in txn.expired_completions(now, BATCH):
        engine.purge(txn, row)
        touched += 1
    for row in txn.expired_journals(now, BATCH):
        txn.delete_journal(row.id)
        txn.put_invocation(replace(row, journal_length=0, commands=0))
        touched += 1
    if touched:
        logger.info("cleaner purged or trimmed %d completed invocations", touched)
    outcome.reply = touched
    return touched
