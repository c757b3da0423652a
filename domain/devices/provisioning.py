"""Use cases that bring a device into the fleet: registration tokens and their exchange."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from domain.access.model import Caller, public, requires
from domain.access.permissions import REGISTRATION_TOKENS
from domain.billing.model import Metric
from domain.devices.model import (
    REGISTRATION_TTL_MINUTES_MAX,
    Node,
    NodeSecrets,
    RegistrationToken,
    check_node_name,
)
from domain.errors import Unauthenticated, ValidationFailed
from domain.hashing import sha256_hex
from ports.billing import QuotaCheck
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator, NodeSignatures

TOKEN_PREFIX = "nrt_"
_REFUSED = "Registration token is invalid, used or expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedRegistrationToken:
    token: str
    record: RegistrationToken


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionedNode:
    """What a device receives once: its identity and the secrets it proves it with."""

    node_id: str
    org_id: str
    mqtt_username: str
    mqtt_password: str
    secret_key: str


def device_secret_matches(stored_hash: str, presented: str) -> bool:
    return hmac.compare_digest(stored_hash, sha256_hex(presented))


class Provisioning:
    """Registration tokens (admins) and their one-time exchange (devices)."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, signatures: NodeSignatures | None = None,
                 quotas: QuotaCheck | None = None) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._signatures, self._quotas = signatures, quotas

    @requires(REGISTRATION_TOKENS, "POST")
    async def create_registration_token(self, caller: Caller, *, node_name: object,
                                        expires_in_minutes: object = 60
                                        ) -> IssuedRegistrationToken:
        """A one-time token for one device of the caller's organization, shown once.

        - expires after 1..10080 minutes (default 60); only its SHA-256 is stored.
        """
        principal = caller.require_principal()
        name = check_node_name(node_name)
        if not isinstance(expires_in_minutes, int) or isinstance(expires_in_minutes, bool) \
                or not 1 <= expires_in_minutes <= REGISTRATION_TTL_MINUTES_MAX:
            raise ValidationFailed("expires_in_minutes must be 1..10080", reason="invalid_ttl")
        now = self._clock.now()
        plain = f"{TOKEN_PREFIX}{self._ids.secret()}"
        record = RegistrationToken(id=self._ids.new_id(), org_id=principal.org_id,
                                   node_name=name, token_hash=sha256_hex(plain),
                                   created_at=now,
                                   expires_at=now + timedelta(minutes=expires_in_minutes),
                                   created_by=principal.user_id)
        async with self._uow(principal.org_id) as uow:
            if self._quotas is not None:  # no token for a node the plan has no room for
                await self._quotas.require(uow, principal.org_id, Metric.NODES)
            await uow.registration_tokens.add(record)
            await uow.commit()
        return IssuedRegistrationToken(token=plain, record=record)

    @public
    async def provision_node(self, caller: Caller, *, token: object,
                             public_key: object = None) -> ProvisionedNode:
        """Exchanges a registration token for a new node's identity and secrets.

        - a token works once, even when two devices race with it; an expired, used or
          unknown token is refused alike (UNAUTHENTICATED);
        - the node belongs to the token's organization; its broker password and claim
          secret_key are random, returned once and stored as SHA-256 hashes;
        - public_key (PEM, EC P-256/P-384 or RSA >= 2048), when given, is the node's own key:
          it verifies challenge-response mapping and proxied node payloads.
        """
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise Unauthenticated(_REFUSED, reason="invalid_registration_token")
        pem = ""
        if public_key is not None:
            if self._signatures is None:
                raise ValidationFailed("node public keys are not supported here",
                                       reason="invalid_public_key")
            try:
                pem = self._signatures.normalize_public_key(public_key)  # type: ignore[arg-type]
            except ValueError as exc:
                raise ValidationFailed(str(exc), reason="invalid_public_key") from exc
        now = self._clock.now()
        node_id = self._ids.short_id().upper()
        mqtt_password, secret_key = self._ids.secret(), self._ids.secret()
        async with self._uow(SYSTEM_SCOPE) as uow:
            record = await uow.registration_tokens.find(sha256_hex(token))
            if record is None or not record.usable(now) \
                    or not await uow.registration_tokens.claim(record.id, node_id, now):
                raise Unauthenticated(_REFUSED, reason="invalid_registration_token")
            if self._quotas is not None:
                await self._quotas.require(uow, record.org_id, Metric.NODES)
            node = Node(id=node_id, org_id=record.org_id, created_at=now, name=record.node_name)
            await uow.nodes.add(node, NodeSecrets(
                node_id=node_id, org_id=record.org_id,
                mqtt_password_hash=sha256_hex(mqtt_password),
                secret_key_hash=sha256_hex(secret_key), public_key=pem))
            await uow.commit()
        return ProvisionedNode(node_id=node_id, org_id=record.org_id, mqtt_username=node_id,
                               mqtt_password=mqtt_password, secret_key=secret_key)




class BrokerEndpoint:
    """Where devices connect (GET /mqtt_host): public, like RainMaker's."""

    def __init__(self, *, address: str, authorizer: Authorizer) -> None:
        self._address, self.authorizer = address, authorizer

    @public
    async def mqtt_host(self, caller: Caller) -> str:
        return self._address
