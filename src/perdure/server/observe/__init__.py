"""What the server tells operators about itself: Prometheus metrics (metrics.py)."""
