"""In-memory fakes of the devices ports: nodes, registration tokens, mapping requests, params
history, node commands and signatures."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.devices.model import (
    Connectivity,
    MappingRequest,
    Node,
    NodeFilter,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
    activity,
)
from tests.unit.fakes.store import _Repo


class InMemoryNodes(_Repo):
    async def add(self, node: Node, secrets: NodeSecrets) -> None:
        assert node.id not in self.s.nodes
        self.s.nodes[node.id] = copy.deepcopy(node)
        self.s.node_secrets[node.id] = secrets

    async def get(self, node_id: str) -> Node | None:
        node = self.s.nodes.get(node_id)
        return copy.deepcopy(node) if node and self.visible(node.org_id) else None

    async def save(self, node: Node) -> None:
        self.s.nodes[node.id] = copy.deepcopy(node)

    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        return [copy.deepcopy(n) for i in node_ids if (n := self.s.nodes.get(i))
                and self.visible(n.org_id)]

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        stored = self.s.nodes.get(node.id)
        if stored is None or stored.params_version != expected_version:
            return False
        self.s.nodes[node.id] = copy.deepcopy(node)
        return True

    async def save_many_if_version(self, pairs: Sequence[tuple[Node, int]]) -> Sequence[str]:
        lost = []
        for node, expected in pairs:
            stored = self.s.nodes.get(node.id)
            if stored is None or stored.params_version != expected:
                lost.append(node.id)
                continue
            saved = copy.deepcopy(node)  # what devices report; the users' fields as stored
            saved.tags, saved.metadata = stored.tags, stored.metadata
            saved.desired, saved.active = stored.desired, stored.active
            self.s.nodes[node.id] = saved
        return lost

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        found = [n for n in self._scoped() if n.connectivity.connected
                 and (after_id is None or n.id > after_id)]
        return [copy.deepcopy(n) for n in found[:limit]]

    async def save_connectivity_if_unchanged(self, pairs: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        left = []
        for node, read in pairs:
            stored = self.s.nodes.get(node.id)
            if stored is None or not self.visible(stored.org_id) \
                    or stored.connectivity != read:
                left.append(node.id)
                continue
            stored.connectivity = copy.deepcopy(node.connectivity)
        return left

    async def secrets(self, node_id: str) -> NodeSecrets | None:
        found = self.s.node_secrets.get(node_id)
        return found if found and self.visible(found.org_id) else None

    def _scoped(self) -> list[Node]:
        return sorted((n for n in self.s.nodes.values() if self.visible(n.org_id)),
                      key=lambda n: n.id)

    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        found = [n for n in self._scoped() if node_filter.matches(n)]
        page = [n for n in found if start_id is None or n.id >= start_id][:limit]
        return [copy.deepcopy(n) for n in page], len(found)

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        counts = {"active": 0, "inactive": 0, "not_activated": 0}
        for node in self._scoped():
            if node_filter.matches(node):
                counts[activity(node, since_ms)] += 1
        return counts

    async def tag_values(self) -> Sequence[str]:
        return sorted({t for n in self._scoped() for t in n.tags})

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        for node in self._scoped():
            if node.id in node_ids:
                node.active = active

    async def save_tags_many(self, nodes: Sequence[Node]) -> None:
        for node in nodes:
            stored = self.s.nodes.get(node.id)
            if stored is not None and self.visible(stored.org_id):
                stored.tags = list(node.tags)


class InMemoryRegistrationTokens(_Repo):
    async def add(self, token: RegistrationToken) -> None:
        self.s.tokens[token.id] = copy.deepcopy(token)

    async def find(self, token_hash: str) -> RegistrationToken | None:
        found = next((t for t in self.s.tokens.values() if t.token_hash == token_hash), None)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        token = self.s.tokens.get(token_id)
        if token is None or token.used_at is not None:
            return False
        token.used_at, token.node_id = now, node_id
        return True


class InMemoryMappingRequests(_Repo):
    async def add(self, request: MappingRequest) -> None:
        self.s.mapping_requests[request.id] = copy.deepcopy(request)

    async def get(self, request_id: str) -> MappingRequest | None:
        found = self.s.mapping_requests.get(request_id)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, request: MappingRequest) -> None:
        if request.id in self.s.mapping_requests and self.visible(request.org_id):
            self.s.mapping_requests[request.id] = copy.deepcopy(request)

    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        return [copy.deepcopy(r) for r in sorted(self.s.mapping_requests.values(),
                                                 key=lambda r: (r.created_at, r.id))
                if r.node_id == node_id and r.kind == kind and r.status == "requested"
                and self.visible(r.org_id)]

    async def delete_for_node(self, node_id: str) -> int:
        gone = [k for k, r in self.s.mapping_requests.items()
                if r.node_id == node_id and self.visible(r.org_id)]
        for key in gone:
            del self.s.mapping_requests[key]
        return len(gone)


class InMemoryParamsHistory(_Repo):
    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None:
        for entry in entries:
            assert (entry.node_id, entry.version) not in self.s.params_history
            self.s.params_history[(entry.node_id, entry.version)] = entry

    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        found = [e for (n, _), e in self.s.params_history.items()
                 if n == node_id and self.visible(e.org_id)]
        return sorted(found, key=lambda e: -e.version)[:limit]

    async def delete_for_node(self, node_id: str) -> int:
        gone = [k for k, e in self.s.params_history.items()
                if k[0] == node_id and self.visible(e.org_id)]
        for key in gone:
            del self.s.params_history[key]
        return len(gone)

    async def prune(self, below: Mapping[str, int]) -> None:
        for key in [k for k, e in self.s.params_history.items()
                    if k[0] in below and k[1] < below[k[0]] and self.visible(e.org_id)]:
            del self.s.params_history[key]


class FakeNodeCommands:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.available = True

    async def send_params(self, node_id: str, params: dict[str, object]) -> bool:
        if self.available:
            self.sent.append((node_id, params))
        return self.available


class FakeSignatures:
    """A node 'signs' by hashing its public key with the message: enough to tell a right
    signature from a wrong one without real keys."""

    @staticmethod
    def sign(public_key: str, message: bytes) -> str:
        return hashlib.sha256(public_key.encode() + b"|" + message).hexdigest()

    def normalize_public_key(self, pem: str) -> str:
        if not isinstance(pem, str) or not pem.startswith("PUB:"):
            raise ValueError("public_key must be a PEM public key")
        return pem

    def verify(self, public_key_pem: str, message: bytes, signature_hex: str) -> bool:
        return bool(public_key_pem) and signature_hex == self.sign(public_key_pem, message)
