"""sagemaker-runtime's errors (botocore's model; inference_and_monitoring.md §1.3): the protocol layer
serialises them with their code and status."""

from __future__ import annotations

from emulator.aws.errors import AwsError


def validation_error(message: str) -> AwsError:
    """ValidationError (400): the runtime's client error (the control plane says ValidationException)."""
    return AwsError(message, code="ValidationError", status=400)


def endpoint_not_found(name: str, account: str) -> AwsError:
    """As AWS words it (amazon-sagemaker-examples#293)."""
    return validation_error(f"Endpoint {name} of account {account} not found.")
