"""Durable storage for the server: the interface (`api`) and its backends."""
