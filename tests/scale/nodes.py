"""Three web nodes of one stack, as the `three_nodes` fixture gives them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.client import Api
from tests.stack import Stack


@dataclass(frozen=True)
class Nodes:
    stack: Stack
    a: Api  # alice's API on node A (the stack's own web node), B and C
    b: Api
    c: Api
