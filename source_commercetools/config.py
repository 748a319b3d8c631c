"""The source's configuration: one pydantic model, rendered as the Airbyte spec."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors_common import (
    check_each,
    check_key,
    check_scope,
    check_service_url,
    format_datetime,
    secrets,
)
from connectors_common.urls import check_service_address

REGIONS = (
    "us-central1.gcp",
    "us-east-2.aws",
    "europe-west1.gcp",
    "eu-central-1.aws",
    "australia-southeast1.gcp",
)
DEFAULT_REGION = "europe-west1.gcp"
MAX_PAGE_SIZE = 500
# The cards of the Airbyte form, in order (`groups` of the spec; each field names one).
FORM_GROUPS = (
    ("connection", "Connection"),
    ("sync", "What to read"),
    ("advanced", "Advanced (power users)"),
)
# What the form asks for: an RFC 3339 datetime (UTC or with an offset); a bare date
# (2025-01-01 = midnight UTC), which scripted configs may hold, still passes.
START_DATE_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)
MESSAGE_TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]{1,99}")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who filled in the form."""


def parse_datetime(value: str) -> datetime:
    text = value.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class SourceConfig(BaseModel):
    """source-commercetools configuration."""

    model_config = ConfigDict(
        extra="ignore",
        title="commercetools Source Spec",
        json_schema_extra={"additionalProperties": True},
    )

    project_key: str = Field(
        title="Project key",
        description="The key of your commercetools project (Settings > Developer settings).",
        min_length=1,
        json_schema_extra={"order": 0, "group": "connection"},
    )
    client_id: str = Field(
        title="Client ID",
        description="ID of an API client with read-only (view_*) scopes.",
        min_length=1,
        json_schema_extra={"order": 1, "group": "connection"},
    )
    client_secret: SecretStr = Field(
        title="Client secret",
        description="Secret of that API client.",
        json_schema_extra={"order": 2, "group": "connection", "airbyte_secret": True},
    )
    region: Literal[REGIONS] | None = Field(  # type: ignore[valid-type]
        default=DEFAULT_REGION,
        title="Region",
        description="The region your project is hosted in (Merchant Center URL or API client "
        "page). Ignored when both API URL and Auth URL are given.",
        json_schema_extra={"order": 3, "group": "connection", "always_show": True},
    )
    allow_private_network: bool = Field(
        default=False,
        title="Allow a private network",
        description="Let api_url and auth_url point at a private address (10/8, 172.16/12, "
        "192.168/16, fc00::/7…), for a commercetools proxy inside your network. Link-local "
        "and cloud metadata addresses are refused whatever this says. Default: false.",
        json_schema_extra={"order": 20, "group": "advanced"},
    )
    api_url: str | None = Field(
        default=None,
        title="API URL",
        description="API root without the project key, for private hosts "
        "(e.g. https://api.europe-west1.gcp.commercetools.com). Give both API URL and Auth URL, "
        "or neither: the two together override the region; one alone is refused.",
        json_schema_extra={"order": 4, "group": "connection"},
    )
    auth_url: str | None = Field(
        default=None,
        title="Auth URL",
        description="Auth root; the token endpoint is {auth_url}/oauth/token. Give both API URL "
        "and Auth URL, or neither: the two together override the region; one alone is refused.",
        json_schema_extra={"order": 5, "group": "connection"},
    )
    start_date: str = Field(
        default="2000-01-01T00:00:00Z",
        title="Start date",
        description="Records last modified before this RFC 3339 datetime are not read.",
        examples=["2025-01-01T00:00:00Z", "2025-01-01T09:30:00+02:00"],
        json_schema_extra={
            "order": 6,
            "group": "sync",
            "pattern": START_DATE_PATTERN,
            "format": "date-time",
            "pattern_descriptor": "YYYY-MM-DDTHH:mm:ssZ",
        },
    )
    store_keys: list[str] = Field(
        default=[],
        title="Store keys",
        description="Read customers, orders and carts through these stores only "
        "(in-store endpoints). Empty reads the whole project.",
        json_schema_extra={"order": 7, "group": "sync"},
    )
    scopes: list[str] | None = Field(
        default=None,
        title="Scopes",
        description="Scopes to request. Default: the read-only view_* scopes of every stream.",
        json_schema_extra={"order": 8, "group": "sync"},
    )
    lookback_window_seconds: int = Field(
        default=120,
        ge=0,
        le=86_400,
        title="Look-back window (seconds)",
        description="Each incremental run re-reads this margin before the saved cursor, because "
        "commercetools makes some changes visible to queries only after their timestamp. The "
        "state remembers the (id, version) of the records in the margin, so only new versions "
        "are emitted again. 0 turns the look-back off (late-visible changes may be lost).",
        json_schema_extra={"order": 9, "group": "sync"},
    )
    lookback_memory_max: int = Field(
        default=10_000,
        ge=0,
        le=100_000,
        title="Look-back memory (records per stream)",
        description="At most this many (id, version) pairs of the look-back margin are kept in "
        "the state per stream (and at most about 1 MB for all streams together). When more "
        "records changed within the look-back window, the newest are remembered and the older "
        "ones are emitted again by the next run (at least once, never lost). Default: 10000.",
        json_schema_extra={"order": 21, "group": "advanced"},
    )
    reconcile_every_hours: float = Field(
        default=24,
        ge=0,
        le=8760,
        title="Id reconciliation interval (hours)",
        description="How often the customer_ids, order_ids and cart_ids streams read every "
        "live id (the only way to see deletions that no Message announces: carts, expired "
        "Messages, customers leaving a store). 0 reads them on every run. Default: 24.",
        json_schema_extra={"order": 22, "group": "sync"},
    )
    reconcile_on_lost_messages: bool = Field(
        default=True,
        title="Reconcile when Messages were lost",
        description="When Messages are disabled, or the last sync read them longer ago than "
        "the project keeps them, read customer_ids and order_ids in this run whatever the "
        "interval says (needs view_project_settings to tell). Default: true.",
        json_schema_extra={"order": 23, "group": "advanced"},
    )
    include_global_customers: bool = Field(
        default=False,
        title="Include global customers",
        description="With store keys: also read the project's customers of no store (stores "
        "is empty), which in-store queries do not return. Needs view_customers for the whole "
        "project. Default: false.",
        json_schema_extra={"order": 24, "group": "sync"},
    )
    page_size: int = Field(
        default=MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        title="Page size",
        description="Records per request (commercetools allows at most 500). Default: 500; "
        "lower it only if commercetools answers QueryTimedOut.",
        json_schema_extra={"order": 10, "group": "advanced"},
    )
    message_types: list[str] = Field(
        default=[],
        title="Message types",
        description="Only these message types in the messages stream "
        "(e.g. CustomerDeleted, OrderDeleted). Empty reads all.",
        json_schema_extra={"order": 11, "group": "sync"},
    )
    retry_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        title="Retry back-off base (seconds)",
        description="First wait before retrying a 429/5xx or a dropped connection; doubles on "
        "each attempt, with jitter. A Retry-After header from commercetools takes precedence. "
        "Default: 1.0.",
        json_schema_extra={"order": 12, "group": "advanced"},
    )
    concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        title="Concurrent requests",
        description="At most this many requests in flight per stream: a first read of a large "
        "collection is split into time slices read at once. 1 reads strictly one page after "
        "another. 429 and Retry-After are honoured by every request. Default: 4.",
        json_schema_extra={"order": 13, "group": "advanced"},
    )
    max_response_mib: int = Field(
        default=64,
        ge=1,
        le=1024,
        title="Largest response (MiB)",
        description="A response body larger than this fails the sync with a clear error "
        "instead of exhausting memory. Default: 64.",
        json_schema_extra={"order": 14, "group": "advanced"},
    )

    connect_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=300,
        title="Connect timeout (seconds)",
        description="Power users: how long to wait for a connection to commercetools (API and "
        "token). A timeout is retried twice, then fails naming the host. Default: 10.",
        json_schema_extra={"order": 15, "group": "advanced"},
    )
    read_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=3_600,
        title="Read timeout (seconds)",
        description="Power users: the longest silence allowed while waiting for an answer or "
        "between two parts of it. A timeout is retried twice, then fails naming the host. "
        "Default: 60.",
        json_schema_extra={"order": 16, "group": "advanced"},
    )
    request_timeout_seconds: float = Field(
        default=300,
        gt=0,
        le=3_600,
        title="Request deadline (seconds)",
        description="Power users: the most one request may take, from sending it to the last "
        "byte of its answer (a server answering one byte a second counts). Retried twice, then "
        "fails naming the host. Default: 300.",
        json_schema_extra={"order": 17, "group": "advanced"},
    )

    @field_validator("client_id")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("project_key")
    @classmethod
    def _project_key(cls, value: str) -> str:
        return check_key(value)  # it reaches every request path and every scope

    @field_validator("api_url", "auth_url")
    @classmethod
    def _service_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        url = check_service_url(value)
        check_service_address(url, bool(info.data.get("allow_private_network")))
        return url

    @field_validator("start_date")
    @classmethod
    def _start_date(cls, value: str) -> str:
        try:
            parse_datetime(value)
        except ValueError as error:
            raise ValueError(
                f"start_date must be a date (2025-01-01) or RFC 3339 datetime, got {value!r}"
            ) from error
        return value

    @field_validator("store_keys")
    @classmethod
    def _store_keys(cls, value: list[str]) -> list[str]:
        keys = check_each(value, check_key)
        return list(dict.fromkeys(keys))  # a store listed twice is read once

    @field_validator("message_types")
    @classmethod
    def _message_types(cls, value: list[str]) -> list[str]:
        types = [name.strip() for name in value]
        bad = [name for name in types if not MESSAGE_TYPE_PATTERN.fullmatch(name)]
        if bad:
            raise ValueError(
                f"message types are names such as CustomerDeleted; not {', '.join(map(repr, bad))}"
            )
        return list(dict.fromkeys(types))

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        """Least privilege: only read-only `view_*` scopes of this project (project-wide or
        of one of its stores). A `manage_*` scope would let a leaked secret change or delete
        data; another project's scope reads data this connection is not about."""
        if value is None:
            return None
        scopes = check_each([scope for scope in value if scope.strip()], check_scope)
        project = info.data.get("project_key")
        for scope in scopes:  # messages name the scope itself: no secret, no index needed
            name, scope_project = scope.split(":")[:2]
            if name.startswith("manage_"):
                raise ValueError(
                    f"{name} is refused: this source only reads, and a manage_* scope "
                    "lets anyone holding the client's secret change or delete data; give the "
                    "API client only the read-only view_* scopes (least privilege)"
                )
            if not name.startswith("view_"):
                raise ValueError(f"{name} is refused: only read-only view_* scopes")
            if project and scope_project != project:
                raise ValueError(
                    f"{scope} is a scope of project '{scope_project}', not of "
                    f"project_key '{project}': only this project's view_* scopes"
                )
        return scopes or None

    @model_validator(mode="after")
    def _remember_secrets(self) -> SourceConfig:
        """From here on the secret (and its Basic-auth forms) is filtered out of every text."""
        secrets.remember_client(self.client_id, self.client_secret.get_secret_value())
        return self

    @model_validator(mode="after")
    def _endpoints(self) -> SourceConfig:
        if self.api_url and self.auth_url:
            return self  # explicit URLs override the region
        if self.region and not (self.api_url or self.auth_url):
            return self
        missing = [name for name in ("api_url", "auth_url") if not getattr(self, name)]
        if self.api_url or self.auth_url:
            raise ValueError(f"{missing[0]}: api_url and auth_url go together; give both")
        raise ValueError("region: give a region, or both api_url and auth_url")

    @property
    def api_root(self) -> str:
        return self.api_url or f"https://api.{self.region}.commercetools.com"

    @property
    def auth_root(self) -> str:
        return self.auth_url or f"https://auth.{self.region}.commercetools.com"

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) for requests: the read timeout never exceeds the deadline."""
        return self.connect_timeout_seconds, min(
            self.read_timeout_seconds, self.request_timeout_seconds
        )

    @property
    def start_cursor(self) -> str:
        return format_datetime(parse_datetime(self.start_date))

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> SourceConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                message = item["msg"].removeprefix("Value error, ")
                field = ".".join(str(part) for part in item["loc"])
                problems.append(f"{field}: {message}" if field else message)
            raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None


def spec_schema() -> dict[str, Any]:
    schema = SourceConfig.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["required"] = ["project_key", "client_id", "client_secret"]
    # The URLs go together: their descriptions say so and the model refuses one alone (`check`
    # names the missing one). Airbyte's spec reference has no keyword for it (no `dependencies`).
    schema["groups"] = [{"id": group, "title": title} for group, title in FORM_GROUPS]
    # Flatten pydantic's anyOf[null] wrappers into plain optional fields the UI can draw.
    for prop in schema["properties"].values():
        variants = prop.pop("anyOf", None)
        if variants:
            concrete = [v for v in variants if v.get("type") != "null"]
            prop.update(concrete[0])
        prop.pop("default", None) if prop.get("default") is None else None
    schema.pop("description", None)
    return schema
