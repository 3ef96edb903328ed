"""botocore's own service models are the schema of every request and response we handle."""

from __future__ import annotations

from functools import cache, lru_cache

import botocore.session
from botocore.model import OperationModel, ServiceModel


@lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    return _session().get_service_model(name)


@cache
def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)
