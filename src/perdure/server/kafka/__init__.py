"""Kafka subscriptions: the clusters the server knows (`clusters`), the consumer behind a
small interface (`source`), and the component that feeds records to the engine
(`runner`). Import the modules themselves: the configuration needs `clusters` before the
engine exists."""
