"""EventBridge (the `events` service), with no HTTP: rules and targets (rules.py), event patterns
(patterns.py), the event bus and its durable delivery queue (bus.py, delivery.py), target input
(transform.py)."""
