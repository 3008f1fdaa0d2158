"""Relay's `Node` interface: an object refetchable by its id alone (`Query.node`)."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object with an id that `node(id:)` finds again (the Relay convention)."
)
class Node:
    id: strawberry.ID
