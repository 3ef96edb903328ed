"""The emulator's own stand-ins for SageMaker's images: which exist and which AWS URIs run on them
(`catalogue`), and how they are built from containers/ (`builder`). `image_for_uri` puts the two
together for a job: the local image to run for a request's image URI, built on first need."""

from __future__ import annotations

import docker

from emulator.runtime.images.builder import ImageBuildError, build_images, ensure_image
from emulator.runtime.images.catalogue import ImageUnavailableError, ResolvedImage, resolve_image_uri
from emulator.runtime.images.progress import BuildEvent, Progress

__all__ = ["BuildEvent", "ImageBuildError", "ImageUnavailableError", "Progress", "ResolvedImage", "build_images",
           "ensure_image", "image_for_uri", "resolve_image_uri"]


def image_for_uri(uri: str, docker_client: docker.DockerClient, progress: Progress | None = None) -> str:
    """The local image reference to run for `uri`, building it if needed; raises ImageUnavailableError."""
    resolved = resolve_image_uri(uri, docker_client)
    if resolved is None:
        raise ImageUnavailableError(
            f"Image {uri} is neither in the local Docker engine nor a SageMaker image this emulator "
            "provides. Build or tag it locally to bring your own container."
        )
    if resolved.image:
        return resolved.image
    if not resolved.buildable or resolved.local_name is None:
        raise ImageUnavailableError(resolved.failure_reason or uri)
    return ensure_image(resolved.local_name, progress)
