"""The routing table of the data path: for each endpoint in service, its variants (weight, instances)
and its data-capture settings. The endpoint controller builds an `EndpointRoute` when a deployment is
healthy and swaps it in whole (`DataPlane.publish`); the data path only reads it. Instances are the
controller's objects, shared between successive routes, so their in-flight counts (which the controller
reads to drain an instance before removing it) and loaded multi-model models carry over.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.runtime.serving.capture import CaptureConfig


@dataclass
class Target:
    """One container of an instance, as the data path reaches it."""
    address: tuple[str, int]
    name: str               # ContainerHostname, or how AWS names it in messages ("primary")
    container_id: str


@dataclass
class Instance:
    id: str                 # i-<17 hex>, as in the instance's log stream name
    variant: str
    index: int
    containers: list[Target]
    log_stream: str
    models_dir: Path | None = None          # multi-model: host folder mounted at /opt/ml/models
    inflight: int = 0
    loaded: dict[str, Any] = field(default_factory=dict)   # multi-model: model name -> asyncio.Future


@dataclass
class VariantRoute:
    name: str
    weight: float
    instances: list[Instance]
    serverless: bool = False
    multi_model_url: str | None = None      # S3 prefix of a multi-model container's models
    direct: bool = False                    # InferenceExecutionConfig Mode=Direct: TargetContainerHostname picks
    _turn: itertools.count = field(default_factory=itertools.count)

    def next_instance(self) -> Instance | None:
        """Round-robin over the variant's instances."""
        instances = self.instances
        if not instances:
            return None
        return instances[next(self._turn) % len(instances)]


@dataclass
class EndpointRoute:
    name: str
    region: str
    deployment: str
    variants: list[VariantRoute]
    capture: CaptureConfig | None = None
    async_config: dict[str, Any] | None = None
    last_used: float = 0.0

    def variant(self, name: str) -> VariantRoute | None:
        return next((v for v in self.variants if v.name == name), None)

    def pick(self) -> VariantRoute:
        """A variant by weight (traffic share = weight / sum of weights); all zero: the first."""
        total = sum(v.weight for v in self.variants)
        if total <= 0:
            return self.variants[0]
        point = random.random() * total
        for variant in self.variants:
            point -= variant.weight
            if point < 0 and variant.weight > 0:
                return variant
        return next(v for v in reversed(self.variants) if v.weight > 0)

    @property
    def multi_model(self) -> bool:
        return any(v.multi_model_url for v in self.variants)
