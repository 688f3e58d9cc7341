"""The one settings object.

Built once at start-up (from ``TODOKE_*`` environment variables, a ``.env`` file and CLI flags)
and passed down: ``create_app(settings)``. Nothing else in todoke reads ``os.environ``.
The defaults are the embedded set-up: a SQLite file, loopback, the built-in carrier simulator.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting todoke has. Environment variable = ``TODOKE_`` + upper-case field name."""

    model_config = SettingsConfigDict(
        env_prefix="TODOKE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    database_url: str = Field(
        default="sqlite:///./todoke.db",
        description="sqlite:///PATH (embedded default) or postgresql://USER@HOST:PORT/DB",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        description="SQLite PRAGMA synchronous. FULL survives power loss; NORMAL survives "
        "process crashes (kill -9) but not an OS crash.",
    )
    db_pool_size: int = Field(default=8, ge=1, description="Read connections per process.")
    db_connect_timeout: float = Field(default=5.0, gt=0)
    group_commit_max_batch: int = Field(
        default=2000, ge=1, description="Most write jobs joined into one transaction."
    )

    # --- HTTP ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="Base URL printed for users; default http://HOST:PORT"
    )
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    batch_max_messages: int = Field(default=10_000, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    access_log: bool = False

    # --- accounts and tokens -----------------------------------------------------------
    demo_account: bool = Field(
        default=True, description="Create a demo account on first start of an empty database."
    )
    token_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a verified token is trusted without a lookup."
    )
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)

    api_token: str | None = Field(
        default=None, description="Token that `todoke send` uses (the CLI is an API client)."
    )

    # --- messages ------------------------------------------------------------------------
    default_validity_seconds: int = Field(default=48 * 3600, ge=60)
    max_validity_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    max_text_characters: int = Field(default=660, ge=1)

    # --- delivery ----------------------------------------------------------------------
    dispatch_enabled: bool = Field(
        default=True, description="Run dispatch workers inside `todoke serve`."
    )
    dispatch_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="`todoke serve` runs dispatch in this many supervised `todoke worker` "
        "child processes instead of in itself (0: in itself): delivery on other cores.",
    )
    dispatch_batch: int = Field(default=500, ge=1, description="Messages claimed at once.")
    dispatch_max_in_flight: int = Field(
        default=2000, ge=1, description="Submissions in progress per process."
    )
    dispatch_lease_seconds: int = Field(
        default=120, ge=5, description="After this, a dead worker's claims are taken over."
    )
    retry_base_seconds: float = Field(
        default=30.0, gt=0, description="First retry delay after a temporary failure (doubles)."
    )
    receipt_grace_seconds: int = Field(
        default=3600, ge=0, description="How long after the validity period a receipt may come."
    )
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(
        default=0, ge=0, le=65535, description="0: a free port (serve); `todoke simulator`: 2775"
    )
    simulator_seed: int = 0
    simulator_time_factor: float = Field(
        default=0.01,
        gt=0,
        description="Scales the simulator's delays (au's 20-minute failure receipts: 12 s).",
    )

    # --- short links (issue 6) -------------------------------------------------------
    short_link_base_url: str | None = Field(
        default=None,
        description="Where short links live: BASE/CODE. Default: PUBLIC_URL/s (or http://HOST:PORT/s).",
    )
    link_access_code_attempts: int = Field(
        default=10, ge=1, description="Wrong access codes in a row before a link locks."
    )
    link_lock_seconds: int = Field(
        default=900, ge=1, description="How long a link refuses access codes once locked."
    )

    simulator_mo_reply_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of delivered messages the simulator answers."
    )

    # --- webhooks (outcomes) -------------------------------------------------------------
    webhooks_enabled: bool = Field(
        default=True, description="Run the webhook worker inside `todoke serve`."
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback and private networks (tests, intranets).",
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="A 2xx later than this is a failed attempt."
    )
    webhooks_max_age_seconds: float = Field(
        default=24 * 3600, gt=0, description="Retries go on at least this long, then dead."
    )
    webhooks_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="First retry delay (doubles, with jitter)."
    )
    webhooks_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest delay between two attempts."
    )
    webhooks_batch: int = Field(default=200, ge=1, description="Deliveries claimed at once.")
    webhooks_max_in_flight: int = Field(
        default=200, ge=1, description="Webhook requests in progress per process."
    )
    webhooks_per_endpoint_concurrency: int = Field(
        default=32, ge=1, le=1000, description="Requests at once to one endpoint host."
    )
    webhooks_retention_days: int = Field(
        default=7, ge=1, description="Delivered webhooks are kept this long, then purged."
    )
    # --- protection (docs/protection.md) ------------------------------------------------
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is "
        "trusted (comma-separated). Empty: the client is the socket peer.",
    )
    auth_failure_limit: int = Field(
        default=10, ge=1, description="Consecutive failed authentications that block an IP."
    )
    ip_rate_limit: float = Field(
        default=80.0, ge=0, description="Requests per second per client IP (0: off)."
    )
    ip_rate_burst: float | None = Field(
        default=None, gt=0, description="Burst per client IP; default: one second's worth."
    )
    send_rate_limit: int = Field(
        default=600, ge=0, description="Messages per second per account (0: unlimited)."
    )
    daily_quota: int = Field(
        default=0, ge=0, description="Messages per JST day per account (0: no quota)."
    )
    monthly_quota: int = Field(
        default=0, ge=0, description="Messages per JST month per account (0: no quota)."
    )
    flood_max_messages: int = Field(
        default=20, ge=0, description="Messages per number per hour from one account (0: off)."
    )
    flood_max_identical: int = Field(
        default=6, ge=0, description="Identical messages per number per hour (0: off)."
    )
    duplicate_window_seconds: int = Field(
        default=0,
        ge=0,
        description="Same number and text within this window is a duplicate (0: off).",
    )
    opt_out_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["配信停止", "ていし", "STOP"],
        description="Inbound replies that opt the sender out (comma-separated).",
    )
    shared_rate_limits: bool | None = Field(
        default=None,
        description="Share rate limits between processes through the database "
        "(default: on for PostgreSQL, off for SQLite).",
    )
    rate_limit_sync_seconds: float = Field(
        default=0.1, gt=0, le=10, description="How often shared rate limits are synced."
    )
    protection_refresh_seconds: float = Field(
        default=2.0, gt=0, description="How often blocked IPs are re-read from the database."
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request header block (431 above)."
    )
    max_headers: int = Field(default=100, ge=10, description="Most request headers (431 above).")
    slow_client_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a client may take to send its request headers, or between two "
        "chunks of its body, before the connection is closed (408).",
    )
    max_connections: int | None = Field(
        default=None, ge=1, description="Concurrent connections per process (503 above)."
    )

    @field_validator("trusted_proxies", "opt_out_keywords", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        message = "database_url must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        if not value.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError(message)
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(message) from None
        return value

    @property
    def is_sqlite(self) -> bool:
        """Whether the embedded SQLite store is in use."""
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """Where users reach the HTTP API."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def short_links_url(self) -> str:
        """Where short links live (``BASE/CODE``)."""
        return self.short_link_base_url or f"{self.base_url.rstrip('/')}/s"
