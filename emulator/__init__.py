"""SageMaker Emulator: a local SageMaker that runs jobs in Docker."""

__version__ = "0.1.0"
