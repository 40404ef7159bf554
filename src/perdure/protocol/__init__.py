"""The Restate service protocol: framing, messages, identifiers, manifest, request identity.

Wire format only: nothing here does I/O, and nothing here imports the rest of perdure.
"""
