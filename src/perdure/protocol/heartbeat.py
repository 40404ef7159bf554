"""perdure's heartbeat: a control frame a deployment sends while a long `ctx.run` step works.

Restate's protocol has no heartbeat, and restate-server fails an attempt on a message type
it does not know. So a perdure SDK sends heartbeats only when the attempt's request carries
`HEARTBEAT_HEADER` (perdure's server sets it on every attempt); on the real restate-server
`ctx.heartbeat()` does nothing. The frame has type `HEARTBEAT_TYPE` (in the control range,
unused by Restate up to V7) and an empty payload; a perdure server counts it as activity of
the attempt and never hands it to the journal.
"""

from __future__ import annotations

from perdure.protocol.framing import encode_frame

HEARTBEAT_TYPE = 0x03F0
HEARTBEAT_HEADER = "x-perdure-heartbeat"
HEARTBEAT_FRAME = encode_frame(HEARTBEAT_TYPE, b"")
