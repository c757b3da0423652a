"""Configuration from environment variables (and a .env file). No setting is needed for the
embedded default: SQLite in the working directory, the embedded MQTT broker, a generated
secret persisted next to the database."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from dotenv import load_dotenv

DEFAULT_DB = "sqlite+aiosqlite:///./fleetgate.db"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def _secret_file() -> Path:
    return Path(os.environ.get("FLEETGATE_SECRET_FILE", ".fleetgate-secret"))


def load_or_create_secret() -> str:
    """FLEETGATE_SECRET, else the one generated on first run and kept in .fleetgate-secret."""
    if value := os.environ.get("FLEETGATE_SECRET"):
        return value
    path = _secret_file()
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DB
    db_statement_timeout_ms: int = 30_000  # PostgreSQL, per unit of work; 0: none
    mqtt_url: str | None = None
    mqtt_port: int = 1884
    mqtt_heartbeat_seconds: float = 10.0  # the gateway's own-subscription heartbeat
    secret: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    production: bool = False
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    blob_dir: str = "./blobs"
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line (docs/observability.md)
    metrics_token: str | None = None  # /metrics is served only with this bearer token
    max_body_bytes: int = 1_048_576
    login_limit_per_ip: int = 30
    login_limit_per_user: int = 10
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    mqtt_public_host: str | None = None
    mapping_timeout_seconds: int = 300
    device_offline_grace_seconds: float = 180.0  # after a restart: keepalive (120 s) x 1.5
    sharing_request_ttl_seconds: int = 7 * 24 * 3600
    gateway_mqtt_password: str | None = None
    broker_hook_secret: str | None = None  # external brokers present it to /v1/mqtt/*
    broker_hook_allow: tuple[str, ...] = ()  # or call from these IPs/CIDRs
    public_url: str | None = None  # how devices reach this HTTP API (OTA download links)
    stripe_api_base: str | None = None  # another Stripe API address (a proxy, tests)
    plans_file: str | None = None  # None: fleetgate/plans.yaml
    billing_grace_days: int = 7  # past due this long: the free plan's quotas apply
    rate_limits: bool = True
    rate_limit_per_ip: int = 1200  # requests per minute
    rate_limit_per_user: int = 600  # per signed-in user or API key; organizations: their plan

    def http_base_url(self) -> str:
        """The base of links Fleetgate hands out (OTA downloads and uploads)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve FLEETGATE_ENV=production (empty: it may)."""
        if not self.production or self.mqtt_url:
            return []
        return ["FLEETGATE_ENV=production needs MQTT_URL (Mosquitto or EMQX): the embedded "
                "broker runs inside this one process and loses every session and queued "
                "message when it restarts"]

    def broker_address(self) -> str:
        """host:port devices connect to, as GET /mqtt_host tells them."""
        if self.mqtt_public_host:
            return self.mqtt_public_host
        if self.mqtt_url:
            url = urlparse(self.mqtt_url)
            return f"{url.hostname or '127.0.0.1'}:{url.port or 1883}"
        return f"{self.host}:{self.mqtt_port}"

    @classmethod
    def from_env(cls) -> Settings:
        load_dotenv(override=False)
        env = os.environ.get
        return cls(
            database_url=env("DATABASE_URL") or DEFAULT_DB,
            db_statement_timeout_ms=_int("FLEETGATE_DB_STATEMENT_TIMEOUT_MS", 30_000),
            mqtt_url=env("MQTT_URL") or None,
            mqtt_port=_int("FLEETGATE_MQTT_PORT", 1884),
            mqtt_heartbeat_seconds=float(env("FLEETGATE_MQTT_HEARTBEAT_SECONDS") or 10.0),
            secret=load_or_create_secret(),
            host=env("FLEETGATE_HOST") or "127.0.0.1",
            port=_int("FLEETGATE_PORT", 8000),
            demo=env("FLEETGATE_DEMO", "0") == "1",
            production=env("FLEETGATE_ENV", "development") == "production",
            stripe_api_key=env("STRIPE_API_KEY") or None,
            stripe_webhook_secret=env("STRIPE_WEBHOOK_SECRET") or None,
            redis_url=env("REDIS_URL") or None,
            smtp_url=env("SMTP_URL") or None,
            blob_dir=env("BLOB_DIR") or "./blobs",
            log_level=(env("LOG_LEVEL") or "INFO").upper(),
            log_format=(env("FLEETGATE_LOG_FORMAT") or "text").lower(),
            metrics_token=env("FLEETGATE_METRICS_TOKEN") or None,
            max_body_bytes=_int("FLEETGATE_MAX_BODY_BYTES", 1_048_576),
            login_limit_per_ip=_int("FLEETGATE_LOGIN_LIMIT_PER_IP", 30),
            login_limit_per_user=_int("FLEETGATE_LOGIN_LIMIT_PER_USER", 10),
            mqtt_public_host=env("MQTT_PUBLIC_HOST") or None,
            public_url=env("FLEETGATE_PUBLIC_URL") or None,
            mapping_timeout_seconds=_int("FLEETGATE_MAPPING_TIMEOUT", 300),
            device_offline_grace_seconds=float(
                env("FLEETGATE_DEVICE_OFFLINE_GRACE") or 180.0),
            sharing_request_ttl_seconds=_int("FLEETGATE_SHARING_REQUEST_TTL", 7 * 24 * 3600),
            gateway_mqtt_password=env("GATEWAY_MQTT_PASSWORD") or None,
            broker_hook_secret=env("FLEETGATE_BROKER_HOOK_SECRET") or None,
            broker_hook_allow=tuple(a.strip() for a in (
                env("FLEETGATE_BROKER_HOOK_ALLOW") or "").split(",") if a.strip()),
            stripe_api_base=env("STRIPE_API_BASE") or None,
            plans_file=env("FLEETGATE_PLANS_FILE") or None,
            billing_grace_days=_int("FLEETGATE_BILLING_GRACE_DAYS", 7),
            rate_limits=env("FLEETGATE_RATE_LIMITS", "1") != "0",
            rate_limit_per_ip=_int("FLEETGATE_RATE_LIMIT_PER_IP", 1200),
            rate_limit_per_user=_int("FLEETGATE_RATE_LIMIT_PER_USER", 600),
            cors_origins=tuple(o for o in (env("FLEETGATE_CORS_ORIGINS") or "").split(",") if o),
        )


def configure_logging(level: str, log_format: str = "text") -> None:
    import logging

    from fleetgate.observability.logs import install

    install(level, log_format)  # text or JSON lines, with the request id inside requests
    # casbin logs the whole model at INFO on every enforcer build
    logging.getLogger("casbin").setLevel(logging.WARNING)
    logging.getLogger("casbin.policy").setLevel(logging.WARNING)
    # the embedded broker narrates every connection and state change at INFO
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
