"""Metric definitions the platform adds for built-in algorithms, even when the request has none
(container_contracts.md §1.7, §5.4, §6): keyed by the ECR repository of the training image.

Each algorithm registers its list here; the runner merges them under the user's own definitions.
"""

from __future__ import annotations

import re

# repository name (e.g. "sagemaker-xgboost") -> [{"Name": ..., "Regex": ...}, ...]
DEFINITIONS: dict[str, list[dict[str, str]]] = {}

_REPOSITORY = re.compile(r"^[^/]+\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)")


def repository_of(image_uri: str) -> str | None:
    match = _REPOSITORY.match(image_uri or "")
    return match.group("repo") if match else None


def builtin_metric_definitions(image_uri: str) -> list[dict[str, str]]:
    repo = repository_of(image_uri)
    return list(DEFINITIONS.get(repo, [])) if repo else []
