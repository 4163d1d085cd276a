"""The YAML config: rate card, currency and report options, validated once where it enters.

Models are strict (no silent type coercion), frozen and forbid unknown keys, so a typo in
the file is an error naming the key rather than a setting that is quietly ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reporter.errors import ConfigError

NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class RateRule(_Strict):
    """One rate card line: runs matching it cost `rate` per instance-hour. First match wins.

    Match on a run tag (`tag` + `value`), a run param (`param` + `value`) or the run's
    experiment name (`experiment`).
    """

    tag: NonEmpty | None = None
    param: NonEmpty | None = None
    experiment: NonEmpty | None = None
    value: str | None = None
    rate: Annotated[float, Field(ge=0)]
    label: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> RateRule:
        kinds = [k for k in ("tag", "param", "experiment") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a rule matches exactly one of 'tag', 'param' or 'experiment'")
        if kinds[0] in ("tag", "param") and self.value is None:
            raise ValueError(f"a '{kinds[0]}' rule needs a 'value'")
        if kinds[0] == "experiment" and self.value is not None:
            raise ValueError("an 'experiment' rule takes no 'value'")
        return self

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.experiment is not None:
            return f"experiment={self.experiment}"
        return f"{self.tag or self.param}={self.value}"


# ISO 4217 active currency codes (2024), so a typo such as "USDD" or "EUD" is caught early.
CURRENCIES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


class RateCard(_Strict):
    currency: str = "USD"
    default_rate: Annotated[float, Field(ge=0)] | None = None
    rules: list[RateRule] = Field(default_factory=list)
    instance_count_key: NonEmpty | None = "num_nodes"
    max_open_run_hours: Annotated[float, Field(gt=0)] = 24.0

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, code: str) -> str:
        if code not in CURRENCIES:
            raise ValueError(f"{code!r} is not an ISO 4217 currency code (e.g. USD, EUR)")
        return code


CostCategory = Literal["infrastructure", "data", "personnel", "software", "operations"]


class FixedCost(_Strict):
    """A cost that does not come from runs (people, licences, data, storage, operations).

    `amount` is per `period`; monthly and yearly amounts are prorated to the report week by
    calendar days (see docs/costs.md).
    """

    name: NonEmpty
    category: CostCategory
    amount: Annotated[float, Field(ge=0)]
    period: Literal["week", "month", "year"]


class Budgets(_Strict):
    """Weekly compute budgets: overall and per team (keys are team names)."""

    compute_weekly: Annotated[float, Field(gt=0)] | None = None
    teams: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


class Deployments(_Strict):
    """What counts as a deployment of a model (docs/kpis.md).

    alias: a version taking one of `aliases` (alias moves come from comparing this build's
    alias snapshot with the previous one); stage: a version in stage `stage` (legacy
    registries); version: every model version created.
    """

    count: Literal["alias", "stage", "version"] = "alias"
    aliases: Annotated[list[NonEmpty], Field(min_length=1)] = Field(
        default_factory=lambda: ["champion"]
    )
    stage: NonEmpty = "Production"
    stale_after_weeks: Annotated[int, Field(ge=1)] = 8


class Estimators(_Strict):
    """Where a run's estimator comes from after sklearn's tags, and which metric ranks them."""

    fallback_key: NonEmpty | None = None
    metric: NonEmpty | None = None
    metric_direction: Literal["higher", "lower"] = "higher"


class Kpi(_Strict):
    """A business goal mapped to a metric logged with mlflow.log_metric."""

    name: NonEmpty
    goal: str = ""
    metric: NonEmpty
    experiment: NonEmpty
    aggregate: Literal["last", "mean", "max", "min", "champion"] = "last"
    model: NonEmpty | None = None
    alias: NonEmpty = "champion"
    direction: Literal["higher", "lower"] = "higher"
    target: float | None = None

    @model_validator(mode="after")
    def _champion_needs_model(self) -> Kpi:
        if self.aggregate == "champion" and self.model is None:
            raise ValueError("aggregate 'champion' needs 'model' (the registered model)")
        return self


class Alerts(_Strict):
    """When the summary raises an alert."""

    failure_rate_jump: Annotated[float, Field(gt=0, le=1)] = 0.10


class Email(_Strict):
    """Email delivery (`reporter send`, `build --email`); docs/delivery.md.

    The SMTP_* / REPORT_* environment variables win over these keys, and the SMTP password
    is only ever read from SMTP_PASSWORD, never from this file.
    """

    smtp_host: NonEmpty | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: NonEmpty | None = None
    smtp_ca_file: NonEmpty | None = None
    sender: NonEmpty | None = Field(default=None, alias="from")
    to: list[NonEmpty] = Field(default_factory=list)
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    backoff_s: Annotated[float, Field(ge=0, le=600)] = 5.0
    max_attachment_mb: Annotated[float, Field(gt=0)] = 10.0
    report_url: NonEmpty | None = None


class Config(_Strict):
    """The whole config file. Every key is optional; an empty file gives the defaults."""

    rate_card: RateCard = Field(default_factory=RateCard)
    fixed_costs: list[FixedCost] = Field(default_factory=list)
    budgets: Budgets = Field(default_factory=Budgets)
    team_tag: NonEmpty = "team"
    top_n: Annotated[int, Field(ge=1, le=1000)] = 10
    report_title: NonEmpty = "ML cost & KPI report"
    # before exclude_experiments: its validator reads this field
    archive_experiment: NonEmpty = "reporter"
    exclude_experiments: list[str] = Field(
        default_factory=lambda: ["reporter"], validate_default=True
    )
    deployments: Deployments = Field(default_factory=Deployments)
    estimators: Estimators = Field(default_factory=Estimators)
    kpis: list[Kpi] = Field(default_factory=list)
    alerts: Alerts = Field(default_factory=Alerts)
    email: Email = Field(default_factory=Email)

    @field_validator("exclude_experiments")
    @classmethod
    def _exclude_the_archive(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """The reporter's own archive experiment never counts towards a KPI."""
        archive = info.data.get("archive_experiment")
        return value if archive is None or archive in value else [*value, archive]


def load_config(path: Path | None) -> Config:
    """Read and validate the config file; None gives the defaults."""
    if path is None:
        return Config()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    return parse_config(raw or {}, source=str(path))


def parse_config(raw: Any, source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        raise ConfigError(f"{source}: invalid '{key}': {error['msg']}") from None
