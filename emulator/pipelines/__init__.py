"""SageMaker Pipelines: definition checks, the step graph, expressions, and the executor."""
