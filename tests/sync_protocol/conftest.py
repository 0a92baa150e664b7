"""Fixtures of the protocol tests: a certified tree and one village-township link."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sync_protocol import (
    ChainHead,
    ChildExchange,
    ChildLink,
    Event,
    KeyRing,
    ParentExchange,
    ParentLink,
)
from tests.sync_protocol.tree import Tree, author, make_tree

VILLAGE = "431000001201"
TOWNSHIP = "431000001"
SIBLING = "431000001202"


@dataclass
class Link:
    """A village and its township, each with its own keyring and durable link state."""

    tree: Tree
    child_ring: KeyRing
    parent_ring: KeyRing
    parent_link: ParentLink
    child_link: ChildLink

    def child(self, site: str = VILLAGE) -> ChildExchange:
        return ChildExchange(key=self.tree.keys[site], keyring=self.child_ring,
                             link=self.parent_link if site == VILLAGE
                             else ParentLink(site=site, parent=TOWNSHIP, parent_epoch=1),
                             own_credentials=[self.tree.certs[site]])

    def parent(self, link: ChildLink | None = None) -> ParentExchange:
        return ParentExchange(key=self.tree.keys[TOWNSHIP], keyring=self.parent_ring,
                              link=link or self.child_link, epoch=1,
                              own_credentials=[self.tree.certs[TOWNSHIP]])

    def events(self, n: int, head: ChainHead | None = None, site: str = VILLAGE) -> list[Event]:
        return author(self.tree.keys[site], head or ChainHead.genesis(site, 1), n)


@pytest.fixture(scope="session")
def tree() -> Tree:
    return make_tree(3)


def make_link(tree: Tree) -> Link:
    return Link(tree, tree.keyring(), tree.keyring(), ParentLink(site=VILLAGE, parent=TOWNSHIP),
                ChildLink(VILLAGE))


@pytest.fixture
def link(tree: Tree) -> Link:
    return make_link(tree)
