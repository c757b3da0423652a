"""Who may use the broker, and which topics: devices only with their own credentials, under
their own client id, and only under their own `node/<node_id>/` prefix (reading only the
cloud-to-device topics there); the gateway with its own credential and client id, everywhere.
Retained messages are for connectivity only."""

from __future__ import annotations

import hmac

from domain.access.model import Caller, public
from domain.devices.model import NODE_ID
from domain.hashing import sha256_hex
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory

ACTIONS = ("publish", "subscribe", "receive")
DEVICE_READABLE = ("params/remote", "otaurl", "to-node")
"""What the cloud sends a device: the only topics (under its own prefix) a device receives."""
RETAINABLE = "connection"
"""The one topic kind whose messages a broker keeps retained: node/<id>/connection."""


class DeviceAccess:
    """Broker authentication and topic ACL decisions (embedded broker plugins and the HTTP
    hooks external brokers call)."""

    # Its use cases are all @public (the broker calls them, no principal): nothing to authorize.
    authorizer: None = None

    def __init__(self, *, uow: UnitOfWorkFactory, gateway_username: str,
                 gateway_password: str, gateway_client_prefix: str = "") -> None:
        self._uow = uow
        self._gateway = (gateway_username, sha256_hex(gateway_password))
        self._gateway_prefix = gateway_client_prefix

    def is_gateway(self, username: str | None) -> bool:
        return username == self._gateway[0]

    def client_id_allowed(self, username: str, client_id: object) -> bool:
        """A device's client id is its node id; the gateway's starts with its per-installation
        prefix (which carries a secret, so nobody else can claim the gateway's session)."""
        if not isinstance(client_id, str):
            return False
        if self.is_gateway(username):
            prefix = self._gateway_prefix
            return not prefix or client_id == prefix or client_id.startswith(prefix + "-")
        return client_id == username

    async def authenticate(self, username: object, password: object,
                           client_id: object = None) -> bool:
        """True for the gateway's credential, or an active node's id and broker password.

        - compared in constant time against stored SHA-256 hashes; a deactivated node's
          credentials stop working.
        - when the broker tells the client id (always, but for hooks that do not send it), a
          device's must equal its node id and the gateway's must carry its prefix.
        """
        if not isinstance(username, str) or not isinstance(password, str) or not password:
            return False
        if client_id is not None and not self.client_id_allowed(username, client_id):
            return False
        presented = sha256_hex(password)
        if username == self._gateway[0]:
            return hmac.compare_digest(self._gateway[1], presented)
        if not NODE_ID.match(username):
            return False
        async with self._uow(SYSTEM_SCOPE) as uow:
            secrets = await uow.nodes.secrets(username)
            node = await uow.nodes.get(username) if secrets else None
        stored = secrets.mqtt_password_hash if secrets else "0" * 64
        return hmac.compare_digest(stored, presented) and node is not None and node.active

    def may_use_topic(self, username: str | None, topic: str | None, action: str) -> bool:
        """The gateway may use every topic; a device only topics under node/<its id>/, and of
        those it receives only what the cloud sends devices (DEVICE_READABLE), whatever
        filter it subscribed with."""
        if username is None or topic is None or action not in ACTIONS:
            return False
        if self.is_gateway(username):
            return True
        prefix = f"node/{username}/"
        # wildcards after the prefix stay inside the device's own subtree
        if not topic.startswith(prefix):
            return False
        return action != "receive" or topic[len(prefix):] in DEVICE_READABLE

    def may_retain(self, username: str | None, topic: str) -> bool:
        """Only connectivity is retained (node/<id>/connection: the device's own, or any for
        the gateway); a retained message elsewhere is delivered but not kept."""
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "node" or parts[2] != RETAINABLE:
            return False
        return username is not None and (self.is_gateway(username) or parts[1] == username)

    # --- the broker hooks' use cases: called by the broker itself, so no principal -----------

    @public
    async def check_login(self, caller: Caller, *, username: object, password: object,
                          client_id: object = None) -> bool:
        """A broker asks whether a client may connect with these credentials and client id
        (authenticate)."""
        return await self.authenticate(username, password, client_id)

    @public
    async def check_superuser(self, caller: Caller, *, username: object) -> bool:
        """A broker asks whether a user bypasses topic checks: only the gateway does."""
        return isinstance(username, str) and self.is_gateway(username)

    @public
    async def check_acl(self, caller: Caller, *, username: object, topic: object,
                        actions: tuple[str, ...]) -> bool:
        """A broker asks whether a user may use a topic for every one of `actions`
        (publish, subscribe, receive); anything malformed is denied."""
        if not isinstance(username, str) or not isinstance(topic, str) or not actions:
            return False
        return all(self.may_use_topic(username, topic, action) for action in actions)
