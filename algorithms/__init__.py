"""The emulator's own implementations of SageMaker's built-in algorithms (`common/` is shared)."""
