"""Images are pinned: a tag other than `latest`, or a digest."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj


def unpinned(image: str) -> bool:
    if "@sha256:" in image:
        return False
    name, _, tag = image.rpartition(":")
    return not name or "/" in tag or tag == "latest"


def images_pinned(obj: Obj, settings: dict) -> Iterator[str]:
    for container in obj.containers(init=True):
        image = container.get("image")
        if isinstance(image, str) and unpinned(image):
            yield f"container {container.get('name', '?')} image {image!r} is not pinned to a tag or digest"
