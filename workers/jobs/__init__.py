"""Job functions, one module per area; registered by name in workers/registry.py."""
