"""The dependency-injector container: the one place that knows every layer."""

from __future__ import annotations

import hmac
import secrets
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.authz.casbin_authorizer import CasbinAuthorizer
from adapters.authz.watcher import LocalPolicyWatcher, PgPolicyWatcher
from adapters.billing.local import LocalBilling
from adapters.billing.plans import load_plans
from adapters.billing.stripe_billing import StripeBilling
from adapters.billing.stripe_webhook import StripeWebhookVerifier
from adapters.blobs.local import LocalBlobStore
from adapters.events import (
    SESSION_CHANNEL,
    InProcessEvents,
    LocalSessionSignals,
    PgSessionSignals,
    SessionListeners,
)
from adapters.mail.smtp import SmtpOutbox
from adapters.mqtt.commands import MqttNodeCommands
from adapters.mqtt.ota import MqttOtaPublisher
from adapters.ratelimit.memory import InMemoryRateLimiter
from adapters.ratelimit.redis_limiter import RedisRateLimiter
from adapters.ratelimit.windows import MemoryRequestLimiter, RedisRequestLimiter
from adapters.security.jwt_tokens import JwtTokenIssuer
from adapters.security.passwords import Argon2PasswordHasher
from adapters.security.signatures import CryptographySignatures
from adapters.security.system import RandomIds, SystemClock
from adapters.sql.cache import ReadCache
from adapters.sql.engine import make_engine
from adapters.sql.outbox import SqlOutbox
from adapters.sql.policy_store import SqlPolicyStore
from adapters.sql.principals import SqlPrincipalLookup
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.access.assignments import UserRoleChanges
from domain.access.policies import Policies
from domain.access.review import AccessReview
from domain.access.role_assignments import RoleAssignments
from domain.access.roles import Roles
from domain.access.use_cases import AccessUseCases
from domain.accounts.admin_users import AdminUsers
from domain.accounts.api_keys import ApiKeys
from domain.accounts.probing import Limits
from domain.accounts.profile import Profiles
from domain.accounts.registration import Registration
from domain.accounts.sessions import Sessions
from domain.billing.model import Plan
from domain.billing.quotas import QuotaGuard
from domain.billing.service import Billing
from domain.devices.access import DeviceAccess
from domain.devices.admin import AdminNodes
from domain.devices.ingest import DeviceIngest
from domain.devices.mapping import NodeMapping
from domain.devices.nodes import UserNodes
from domain.devices.presence import NodePresence
from domain.devices.provisioning import BrokerEndpoint, Provisioning
from domain.devices.proxy import NodeProxy
from domain.devices.reach import DeviceReach
from domain.devices.reactions import PendingParams
from domain.devices.watch import NodeWatch
from domain.groups.access import GroupReachRules
from domain.groups.admin_groups import AdminGroups
from domain.groups.user_groups import UserGroups
from domain.ota.delivery import OtaDelivery
from domain.ota.images import OtaImages
from domain.ota.jobs import OtaJobs
from domain.ota.user_updates import OtaUpdates
from domain.sharing.groups import GroupSharing
from domain.sharing.nodes import NodeSharing
from fleetgate.catalogue import ApiCatalogue
from fleetgate.usage import ApiRequestCounter

GATEWAY_USERNAME = "fleetgate-gateway"
POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


def _outbox(smtp_url: str | None, engine: object) -> object:
    return SmtpOutbox(smtp_url) if smtp_url else SqlOutbox(engine)  # type: ignore[arg-type]


_READ_CACHES: weakref.WeakValueDictionary[str, ReadCache] = weakref.WeakValueDictionary()


def _read_cache(database_url: str) -> ReadCache | None:
    """On for SQLite, which is single-process: every write passes through this process and
    evicts what it touched (one cache per database, shared by every app in the process that
    opens it). Off for PostgreSQL, where other replicas write too."""
    if not database_url.startswith("sqlite"):
        return None
    cache = _READ_CACHES.get(database_url)
    if cache is None:
        cache = _READ_CACHES[database_url] = ReadCache()
    return cache


def _gateway_password(configured: str | None) -> str:
    return configured or secrets.token_urlsafe(32)


def _gateway_client_prefix(secret: str) -> str:
    """The gateway's MQTT client id prefix: fixed per installation (derived from
    FLEETGATE_SECRET, so every replica agrees) and unguessable without it."""
    digest = hmac.new(secret.encode(), b"fleetgate mqtt gateway client id", "sha256")
    return f"{GATEWAY_USERNAME}-{digest.hexdigest()[:20]}"


def _policy_watcher(database_url: str, engine: Any, authorizer: Any,
                    session_signals: Any) -> object:
    """PostgreSQL: LISTEN/NOTIFY across replicas (policy changes, and on the same
    connection the session signals); SQLite (one process): in-process."""
    if database_url.startswith("postgresql"):
        return PgPolicyWatcher(engine, authorizer, channels={SESSION_CHANNEL: session_signals})
    return LocalPolicyWatcher(database_url, authorizer)


def _session_signals(database_url: str, engine: Any, listeners: SessionListeners) -> object:
    """What ends live connections when a credential changes: NOTIFY on PostgreSQL, the
    apps of this process on SQLite."""
    if database_url.startswith("postgresql"):
        return PgSessionSignals(engine, listeners)
    return LocalSessionSignals(database_url, listeners)


def _limiter(redis_url: str | None) -> object:
    return RedisRateLimiter(redis_url) if redis_url else InMemoryRateLimiter()


def _request_limiter(redis_url: str | None) -> object:
    return RedisRequestLimiter(redis_url) if redis_url else MemoryRequestLimiter()


def _billing_gateway(settings: Any, plans: list[Plan], uow: Any, clock: Any) -> object:
    """StripeBilling when STRIPE_API_KEY is set, else LocalBilling (no payments)."""
    if settings.stripe_api_key:
        return StripeBilling(api_key=settings.stripe_api_key, plans=plans,
                             api_base=settings.stripe_api_base)
    return LocalBilling(plans=plans, uow=uow, clock=clock)


def _webhook_verifier(secret: str | None) -> object:
    return StripeWebhookVerifier(secret) if secret else None


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency()

    engine = providers.Singleton(make_engine, settings.provided.database_url)
    read_cache = providers.Singleton(_read_cache, settings.provided.database_url)
    uow = providers.Singleton(SqlUnitOfWorkFactory, engine, read_cache,
                              statement_timeout_ms=settings.provided.db_statement_timeout_ms)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    hasher = providers.Singleton(Argon2PasswordHasher)
    tokens = providers.Singleton(JwtTokenIssuer, settings.provided.secret, clock)
    outbox = providers.Singleton(_outbox, settings.provided.smtp_url, engine)
    limiter = providers.Singleton(_limiter, settings.provided.redis_url)
    request_limiter = providers.Singleton(_request_limiter, settings.provided.redis_url)
    plans = providers.Singleton(load_plans, settings.provided.plans_file)
    grace = providers.Singleton(lambda days: timedelta(days=days),
                                settings.provided.billing_grace_days)
    billing_gateway = providers.Singleton(_billing_gateway, settings, plans, uow, clock)
    webhook_verifier = providers.Singleton(_webhook_verifier,
                                           settings.provided.stripe_webhook_secret)
    quotas = providers.Singleton(QuotaGuard, plans=plans, clock=clock, grace=grace)
    limits = providers.Singleton(Limits, per_ip=settings.provided.login_limit_per_ip,
                                 per_user=settings.provided.login_limit_per_user)
    policy_store = providers.Singleton(SqlPolicyStore, engine)
    authorizer = providers.Singleton(CasbinAuthorizer, POLICY_DIR / "model.conf", policy_store)
    principals = providers.Singleton(SqlPrincipalLookup, engine, read_cache)
    session_listeners = providers.Singleton(SessionListeners)
    session_signals = providers.Singleton(_session_signals, settings.provided.database_url,
                                          engine, session_listeners)
    policy_watcher = providers.Singleton(_policy_watcher, settings.provided.database_url, engine,
                                         authorizer, session_signals)
    catalogue = providers.Singleton(ApiCatalogue)
    access_policies = providers.Singleton(
        Policies, uow=uow, ids=ids, clock=clock, authorizer=authorizer, watcher=policy_watcher,
        catalogue=catalogue)
    access_roles = providers.Singleton(
        Roles, uow=uow, ids=ids, clock=clock, authorizer=authorizer, watcher=policy_watcher,
        catalogue=catalogue)
    role_assignments = providers.Singleton(
        RoleAssignments, uow=uow, ids=ids, clock=clock, authorizer=authorizer,
        signals=session_signals)
    access_review = providers.Singleton(AccessReview, uow=uow, authorizer=authorizer,
                                        catalogue=catalogue)
    access_use_cases = providers.Singleton(
        AccessUseCases, policies=access_policies, roles=access_roles,
        assignments=role_assignments, review=access_review)

    registration = providers.Singleton(
        Registration, uow=uow, hasher=hasher, ids=ids, clock=clock, outbox=outbox,
        limiter=limiter, authorizer=authorizer, limits=limits, quotas=quotas)
    sessions = providers.Singleton(
        Sessions, uow=uow, hasher=hasher, tokens=tokens, ids=ids, clock=clock, limiter=limiter,
        authorizer=authorizer, principals=principals, limits=limits, signals=session_signals)
    profiles = providers.Singleton(
        Profiles, uow=uow, hasher=hasher, ids=ids, clock=clock, outbox=outbox, limiter=limiter,
        authorizer=authorizer, limits=limits, signals=session_signals)
    api_keys = providers.Singleton(ApiKeys, uow=uow, ids=ids, clock=clock, authorizer=authorizer,
                                   signals=session_signals)
    admin_users = providers.Singleton(AdminUsers, uow=uow, ids=ids, clock=clock, hasher=hasher,
                                      outbox=outbox, authorizer=authorizer,
                                      roles=providers.Singleton(UserRoleChanges),
                                      quotas=quotas, signals=session_signals)
    signatures = providers.Singleton(CryptographySignatures)
    provisioning = providers.Singleton(Provisioning, uow=uow, ids=ids, clock=clock,
                                       authorizer=authorizer, signatures=signatures,
                                       quotas=quotas)
    node_commands = providers.Singleton(MqttNodeCommands)
    user_nodes = providers.Singleton(
        UserNodes, uow=uow, ids=ids, clock=clock, authorizer=authorizer, commands=node_commands,
        mapping_ttl_seconds=settings.provided.mapping_timeout_seconds)
    node_mapping = providers.Singleton(
        NodeMapping, uow=uow, ids=ids, clock=clock, authorizer=authorizer, signatures=signatures,
        ttl_seconds=settings.provided.mapping_timeout_seconds)
    broker_endpoint = providers.Singleton(
        BrokerEndpoint, address=settings.provided.broker_address.call(), authorizer=authorizer)
    # the gateway's own broker credential: GATEWAY_MQTT_PASSWORD (shared by replicas), or
    # random per process
    gateway_password = providers.Singleton(_gateway_password,
                                           settings.provided.gateway_mqtt_password)
    gateway_client_prefix = providers.Singleton(_gateway_client_prefix, settings.provided.secret)
    device_access = providers.Singleton(DeviceAccess, uow=uow, gateway_username=GATEWAY_USERNAME,
                                        gateway_password=gateway_password,
                                        gateway_client_prefix=gateway_client_prefix)
    ingest = providers.Singleton(DeviceIngest, uow=uow, clock=clock)
    pending_params = providers.Singleton(PendingParams, uow=uow, commands=node_commands)
    node_presence = providers.Factory(NodePresence, uow=uow, clock=clock)
    node_watch = providers.Singleton(NodeWatch, uow=uow, clock=clock, authorizer=authorizer)
    events = providers.Singleton(InProcessEvents)
    admin_nodes = providers.Singleton(AdminNodes, uow=uow, clock=clock, authorizer=authorizer)
    node_sharing = providers.Singleton(
        NodeSharing, uow=uow, ids=ids, clock=clock, authorizer=authorizer, events=events,
        ttl_seconds=settings.provided.sharing_request_ttl_seconds,
        reach=providers.Singleton(DeviceReach))
    node_proxy = providers.Singleton(NodeProxy, uow=uow, clock=clock, authorizer=authorizer,
                                     signatures=signatures, ingest=ingest, events=events)
    user_groups = providers.Singleton(UserGroups, uow=uow, ids=ids, clock=clock,
                                      authorizer=authorizer, events=events)
    group_sharing = providers.Singleton(
        GroupSharing, uow=uow, ids=ids, clock=clock, authorizer=authorizer, events=events,
        ttl_seconds=settings.provided.sharing_request_ttl_seconds,
        reach=providers.Singleton(GroupReachRules))
    admin_groups = providers.Singleton(AdminGroups, uow=uow, ids=ids, clock=clock,
                                       authorizer=authorizer)
    blobs = providers.Singleton(LocalBlobStore,
                                providers.Callable(Path, settings.provided.blob_dir))
    ota_publisher = providers.Singleton(MqttOtaPublisher)
    ota_images = providers.Singleton(
        OtaImages, uow=uow, ids=ids, clock=clock, authorizer=authorizer, blobs=blobs,
        link_secret=providers.Callable(str.encode, settings.provided.secret), quotas=quotas)
    ota_delivery = providers.Singleton(
        OtaDelivery, uow=uow, clock=clock, images=ota_images, publisher=ota_publisher,
        base_url=settings.provided.http_base_url.call())
    ota_jobs = providers.Singleton(OtaJobs, uow=uow, ids=ids, clock=clock,
                                   authorizer=authorizer, delivery=ota_delivery)
    ota_updates = providers.Singleton(OtaUpdates, uow=uow, clock=clock, authorizer=authorizer,
                                      delivery=ota_delivery)
    billing = providers.Singleton(Billing, uow=uow, gateway=billing_gateway, clock=clock,
                                  authorizer=authorizer, verifier=webhook_verifier, grace=grace)
    api_requests = providers.Singleton(ApiRequestCounter, uow=uow, clock=clock)
