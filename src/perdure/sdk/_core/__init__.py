"""The SDK's sans-IO core: the journal machine (`machine`, `commands`), notifications, replay
checks and what the machine answers (`progress`). Private: its API may change at any time;
the SDK's public surface is `perdure`."""
