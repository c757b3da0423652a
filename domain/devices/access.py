"""Who may use the broker, and which topics: devices only with their own credentials and only
under their own `node/<node_id>/` prefix; the gateway with its own credential, everywhere."""

from __future__ import annotations

import hmac

from domain.access.model import Caller, public
from domain.accounts.tokens import sha256_hex
from domain.devices.model import NODE_ID
from ports.repositories import SYSTEM_SCOPE, UnitOfWorkFactory

ACTIONS = ("publish", "subscribe", "receive")


class DeviceAccess:
    """Broker authentication and topic ACL decisions (embedded broker plugins and the HTTP
    hooks external brokers call)."""

    # Its use cases are all @public (the broker calls them, no principal): nothing to authorize.
    authorizer: None = None

    def __init__(self, *, uow: UnitOfWorkFactory, gateway_username: str,
                 gateway_password: str) -> None:
        self._uow = uow
        self._gateway = (gateway_username, sha256_hex(gateway_password))

    def is_gateway(self, username: str | None) -> bool:
        return username == self._gateway[0]

    async def authenticate(self, username: object, password: object) -> bool:
        """True for the gateway's credential, or an active node's id and broker password.

        - compared in constant time against stored SHA-256 hashes; a deactivated node's
          credentials stop working.
        """
        if not isinstance(username, str) or not isinstance(password, str) or not password:
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
        """The gateway may use every topic; a device only topics under node/<its id>/."""
        if username is None or topic is None or action not in ACTIONS:
            return False
        if self.is_gateway(username):
            return True
        # wildcards after the prefix stay inside the device's own subtree
        return topic.startswith(f"node/{username}/")

    # --- the broker hooks' use cases: called by the broker itself, so no principal -----------

    @public
    async def check_login(self, caller: Caller, *, username: object, password: object) -> bool:
        """A broker asks whether a client may connect with these credentials (authenticate)."""
        return await self.authenticate(username, password)

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
