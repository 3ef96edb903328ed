"""HTTP-facing handlers, one module per resource family."""
