"""The emulator's images in the local Docker engine: which are in use, which are left over, and pruning.

Ours are exactly what the builder writes: tags `sagemaker-emulator/<name>:<hash12>` (an image) and
`<hash12>-<stage>` (an earlier stage of its build, kept as build cache), plus untagged images that
descend from one of those (stages of builds from before stages were tagged). Nothing else -- another
tag, another repository, an untagged image of someone else's -- is ever listed or removed.

`current` is the tag this emulator would build now for its catalogue (the context hash of this
checkout or installation); any other hash is `old`: an earlier version of a build context, or another
checkout's. `prune` keeps the current images and removes the rest (old images, build stages, untagged
leftovers); an image a container still uses stays, and so does any other tag on a pruned image (e.g.
`sagemaker-emulator/emulator:latest`, or an ECR name given by `images tag-ecr`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import docker
from docker.errors import APIError

from emulator.runtime.images.builder import image_tag
from emulator.runtime.images.catalogue import LOCAL_IMAGES, REPOSITORY_PREFIX

log = logging.getLogger(__name__)

CURRENT, OLD, STAGE, LEFTOVER = "current", "old", "build stage", "untagged leftover"
_OURS = re.compile(rf"^{re.escape(REPOSITORY_PREFIX)}/(?P<name>[a-z0-9][a-z0-9._-]*):(?P<hash>[0-9a-f]{{12}})"
                   r"(?:-(?P<stage>[A-Za-z0-9_.-]+))?$")


@dataclass
class LocalImage:
    reference: str          # the tag, or the short id of an untagged image
    image_id: str
    state: str              # CURRENT, OLD, STAGE or LEFTOVER
    size: int               # bytes, the layers it shares with others included (as `docker images` says)
    created: int            # unix time
    other_tags: list[str] = field(default_factory=list)   # tags on the same image that are not ours

    @property
    def name(self) -> str:
        match = _OURS.match(self.reference)
        return match["name"] if match else ""


@dataclass
class PruneResult:
    removed: list[LocalImage]
    kept: list[tuple[LocalImage, str]]     # could not be removed, and why
    reclaimed_bytes: int                   # layers deleted from the engine (estimated for a dry run)


def current_tags() -> set[str]:
    return {image_tag(name) for name in LOCAL_IMAGES}


def inventory(client: docker.DockerClient, current: set[str] | None = None) -> list[LocalImage]:
    """Every image of ours in the engine, newest first."""
    current = current_tags() if current is None else current
    graph = _Graph(client.api.images(all=True))
    found: list[LocalImage] = []
    ours: set[str] = set()
    for image in graph.images.values():
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        for tag in tags:
            match = _OURS.match(tag)
            if match is None:
                continue
            ours.add(image["Id"])
            state = STAGE if match["stage"] else CURRENT if tag in current else OLD
            found.append(LocalImage(tag, image["Id"], state, image["Size"], image["Created"],
                                    [t for t in tags if not _OURS.match(t)]))
    for image in graph.untagged_leaves():
        if any(ancestor in ours for ancestor in graph.ancestors(image["Id"])):
            found.append(LocalImage(image["Id"].removeprefix("sha256:")[:12], image["Id"], LEFTOVER,
                                    image["Size"], image["Created"]))
    return sorted(found, key=lambda i: (-i.created, i.reference))


def prune(client: docker.DockerClient, candidates: Iterable[LocalImage] | None = None,
          dry_run: bool = False) -> PruneResult:
    """Remove every image of ours but the current ones (or just `candidates`, which must come from
    `inventory`); a dry run only says what would go."""
    listed = inventory(client) if candidates is None else list(candidates)
    doomed = [i for i in listed if i.state != CURRENT]
    graph = _Graph(client.api.images(all=True))
    if dry_run:
        return PruneResult(doomed, [], graph.reclaimable(doomed))
    removed: list[LocalImage] = []
    kept: list[tuple[LocalImage, str]] = []
    # Tags first: an untagged leftover may be the parent of nothing but them.
    for image in sorted(doomed, key=lambda i: i.state == LEFTOVER):
        try:
            # By tag: removes our name only; the image goes when no other tag holds it.
            client.api.remove_image(image.reference if image.state != LEFTOVER else image.image_id)
            removed.append(image)
        except APIError as exc:   # e.g. a container (running or not) still uses it
            kept.append((image, exc.explanation or str(exc)))
    return PruneResult(removed, kept, graph.reclaimable(removed))


class _Graph:
    """The engine's images (intermediate ones too) as a tree: the classic builder records each
    step's image as the parent of the next, so an image's own layer is its size minus its parent's."""

    def __init__(self, images: list[dict]) -> None:
        self.images = {i["Id"]: i for i in images}
        self.children: dict[str, list[str]] = {}
        for image in images:
            if image.get("ParentId"):
                self.children.setdefault(image["ParentId"], []).append(image["Id"])

    def ancestors(self, image_id: str) -> Iterable[str]:
        parent = self.images[image_id].get("ParentId")
        while parent and parent in self.images:
            yield parent
            parent = self.images[parent].get("ParentId")

    def untagged_leaves(self) -> list[dict]:
        return [i for i in self.images.values() if not self.tags(i) and not self.children.get(i["Id"])]

    @staticmethod
    def tags(image: dict) -> list[str]:
        return [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]

    def own_bytes(self, image_id: str) -> int:
        image = self.images[image_id]
        parent = self.images.get(image.get("ParentId") or "")
        return max(0, image["Size"] - (parent["Size"] if parent else 0))

    def reclaimable(self, removing: list[LocalImage]) -> int:
        """Bytes freed by removing these images: each image left with no tag is deleted, then every
        untagged parent left with no child, and so on."""
        untagging = {i.reference for i in removing if i.state != LEFTOVER}
        gone = {i.image_id for i in removing if i.state == LEFTOVER}
        gone |= {i["Id"] for i in self.images.values() if self.tags(i) and set(self.tags(i)) <= untagging}
        frontier = list(gone)
        while frontier:
            parent = self.images[frontier.pop()].get("ParentId")
            if (parent in self.images and parent not in gone and not self.tags(self.images[parent])
                    and all(child in gone for child in self.children.get(parent, []))):
                gone.add(parent)
                frontier.append(parent)
        return sum(self.own_bytes(i) for i in gone if i in self.images)
