"""Typed AWS errors. Handlers raise them; the protocol layer serialises them in the wire shape of the
service that was called (JSON `__type`, query/REST-XML `<Error>`). Client mistakes are always 4xx:
botocore retries 5xx, so a 5xx for a bad request would triple every failing call."""

from __future__ import annotations


class AwsError(Exception):
    code = "InternalFailure"
    status = 400
    sender_fault = True

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationException(AwsError):
    code = "ValidationException"


class SerializationException(AwsError):
    code = "SerializationException"


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"


class ResourceNotFound(AwsError):
    """SageMaker's newer APIs (experiments, pipelines, registry) use this code for missing resources."""
    code = "ResourceNotFound"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"


class ConflictException(AwsError):
    code = "ConflictException"


class NotImplementedOperation(AwsError):
    """An operation that exists in the service model but has no handler yet: a 400, never a 500."""
    code = "UnknownOperationException"


class RequestTooLarge(AwsError):
    """A request body above the protocol's limit (413, never read into memory to the end)."""
    code = "RequestEntityTooLargeException"
    status = 413

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Request body of at least {size} bytes exceeds the limit of {limit} bytes.")


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False
