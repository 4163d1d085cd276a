"""Read one reporting window from MLflow into a Snapshot: paged, window-filtered, deduplicated.

Every listing is paged with page tokens until MLflow says there is no more, so nothing is
silently cut at MLflow's default page sizes. The window reaches the server as
`attributes.start_time` / `attributes.end_time` filters, so the work grows with the runs in
the window, not with the size of the store.

Over HTTP, runs are the slow part: MLflow's client turns every page from JSON into protobuf
and then into entities, which costs more than the server's own work. There the window is cut
into disjoint time slices fetched concurrently (each fully paged; a server with several
workers answers them in parallel) and the search endpoint's JSON is read directly into rows,
with MLflow's own HTTP layer (credentials, TLS settings, retries) and the same field defaults
MLflow's protobuf parsing applies, so the rows are those the client would give.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from reporter import __version__
from reporter.errors import GatherError, UsageError
from reporter.gather.snapshot import GatherInfo, Snapshot, make_table
from reporter.weeks import IsoWeek, iso_utc

# Runs per search page. An MLflow server spends more per run on larger pages (10,000-run pages
# took twice as long as 5,000-run pages over HTTP; docs/performance.md).
DEFAULT_PAGE_SIZE = 5_000
DEFAULT_CONCURRENCY = 4
MODEL_PAGE_SIZE = 1_000
EXPERIMENT_CHUNK = 500  # experiment ids per run search
RUNNING = "RUNNING"
_SEARCH_RUNS = "/api/2.0/mlflow/runs/search"

# MLflow's HTTP client retries for minutes by default; a weekly job should fail in bounded
# time instead. Users can still override these through the environment.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def strip_credentials(uri: str) -> str:
    """The URI without user, password or query string, safe to print and to save."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.scheme.startswith("sqlite"):
        return uri.split("?", 1)[0]
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, or None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = unquote(uri.removeprefix("sqlite:///").split("?", 1)[0])
    raw = raw.removeprefix("file:")
    return Path(raw).resolve()


@cache
def _expected_schema_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def read_only_sqlite_uri(path: Path) -> str:
    """A URI that opens an existing sqlite store read-only, after checking its schema version.

    MLflow upgrades an older store's schema in place when it opens it; a report must never
    change the user's database, so the store is opened with `mode=ro` and a schema that this
    MLflow client does not read is refused before MLflow sees the file.
    """
    if not path.is_file():
        raise UsageError(
            f"sqlite store {path} does not exist; check the tracking URI (no new store is created)"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            found = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise GatherError(f"{path} is not a readable MLflow sqlite store ({exc})") from None
    expected = _expected_schema_revision()
    if not found or found[0] != expected:
        raise GatherError(
            f"sqlite store {path} has schema {found[0] if found else 'none'!r} but MLflow "
            f"{_mlflow_version()} reads {expected!r}; use the MLflow version that wrote it "
            "(the store was left unchanged)"
        )
    return f"sqlite:///file:{path}?mode=ro&uri=true"


@contextmanager
def _no_stray_folder() -> Iterator[None]:
    """Remove the empty `file:` folder MLflow creates in the cwd for `file:` sqlite URIs."""
    stray = Path("file:")
    existed = stray.exists()
    try:
        yield
    finally:
        if not existed and stray.is_dir():
            for folder in sorted((p for p in stray.rglob("*") if p.is_dir()), reverse=True):
                _rmdir_if_empty(folder)
            _rmdir_if_empty(stray)


def _rmdir_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


def _mlflow_version() -> str:
    import mlflow

    return mlflow.__version__


def _auth_headers() -> dict[str, str]:
    """The credentials MLflow's own client would send, from the same environment variables."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def _get(url: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(4096).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def probe_server(uri: str, timeout: float = 10.0) -> str | None:
    """Check that an HTTP tracking URI is an MLflow API we may read; return its version.

    One cheap request before the real work turns the usual misconfigurations into clear
    errors: nothing listening, refused credentials, or a proxy's HTML login page (which
    must never become a report of "0 runs").
    """
    base = strip_credentials(uri).rstrip("/")
    try:
        status, body = _get(f"{base}/api/2.0/mlflow/experiments/search?max_results=1", timeout)
        if status in (401, 403):
            raise GatherError(
                f"MLflow server {base} refused authentication (HTTP {status}); "
                "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
            )
        if status == 200 and not body.startswith("{"):
            raise GatherError(
                f"{base} answered with an HTML page, not MLflow's API "
                "(a login page or proxy?); check the tracking URI"
            )
        version_status, version = _get(f"{base}/version", timeout)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GatherError(
            f"MLflow server {base} is unreachable ({reason}); check the tracking URI"
        ) from None
    if version_status == 200 and version and not version.startswith("<") and len(version) < 40:
        return version
    return None


def _paged(fetch: Callable[[str | None], Any]) -> Iterator[list[Any]]:
    """Yield pages from an MLflow search call until its page token runs out."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield list(page)
        token = page.token
        if not token:
            return


def _timestamp(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


# One run as snapshot rows: (runs row, tag rows, param rows, metric rows).
RunRows = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]
# (experiment ids, filter, page token) -> (one page of runs as rows, next page token or None)
Search = Callable[[list[str], str, str | None], tuple[list[RunRows], str | None]]


def _rows(
    run: dict[str, Any], tags: dict[str, Any], params: dict[str, Any], metrics: dict[str, float]
) -> RunRows:
    rid = run["run_id"]
    return (
        run,
        [{"run_id": rid, "key": k, "value": v} for k, v in tags.items()],
        [{"run_id": rid, "key": k, "value": v} for k, v in params.items()],
        [{"run_id": rid, "key": k, "value": v} for k, v in metrics.items()],
    )


def _entity_rows(run: Any) -> RunRows:
    """A run entity from MlflowClient as snapshot rows."""
    info = run.info
    return _rows(
        {
            "run_id": info.run_id,
            "experiment_id": str(info.experiment_id),
            "run_name": info.run_name,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": _timestamp(info.start_time),
            "end_time": _timestamp(info.end_time),
            "lifecycle_stage": info.lifecycle_stage,
        },
        run.data.tags,
        run.data.params,
        {k: float(v) for k, v in run.data.metrics.items()},
    )


def _json_rows(run: dict[str, Any]) -> RunRows:
    """A run of the search endpoint's JSON as the rows its MlflowClient entity would give.

    MLflow's client parses the JSON into protobuf (proto2), so an absent field reads as its
    default: "" for strings, 0 for numbers, RUNNING for the status; an end time of 0 is none.
    Repeated keys keep the last value, as the entity's dicts do.
    """
    info, data = run.get("info", {}), run.get("data", {})
    return _rows(
        {
            "run_id": info.get("run_id", ""),
            "experiment_id": info.get("experiment_id", ""),
            "run_name": info.get("run_name", ""),
            "user_id": info.get("user_id", ""),
            "status": info.get("status", RUNNING),
            "start_time": int(info.get("start_time", 0)),
            "end_time": int(info.get("end_time", 0)) or None,
            "lifecycle_stage": info.get("lifecycle_stage", ""),
        },
        {t.get("key", ""): t.get("value", "") for t in data.get("tags", ())},
        {p.get("key", ""): p.get("value", "") for p in data.get("params", ())},
        {m.get("key", ""): float(m.get("value", 0.0)) for m in data.get("metrics", ())},
    )


# Page tokens are offsets. Oldest first, a run created while we page (its start is "now", the
# newest) lands on a later page instead of shifting every page and being skipped.
ORDER_BY = ["attributes.start_time ASC", "attributes.run_id ASC"]


def _client_search(client: Any, page_size: int) -> Search:
    from mlflow.entities import ViewType

    def search(ids: list[str], filter_string: str, token: str | None):
        page = client.search_runs(
            ids,
            filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=page_size,
            order_by=ORDER_BY,
            page_token=token,
        )
        return [_entity_rows(run) for run in page], page.token or None

    return search


def _rest_search(client: Any, page_size: int) -> Search | None:
    """The search endpoint read as JSON, for a REST tracking store; None for any other store."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import http_request, verify_rest_response

    store = client._tracking_client.store
    if not isinstance(store, RestStore):
        return None

    def search(ids: list[str], filter_string: str, token: str | None):
        body: dict[str, Any] = {
            "experiment_ids": ids,
            "filter": filter_string,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": page_size,
            "order_by": ORDER_BY,
        }
        if token:
            body["page_token"] = token
        response = http_request(store.get_host_creds(), _SEARCH_RUNS, "POST", json=body)
        if response.status_code != 200:
            verify_rest_response(response, _SEARCH_RUNS)  # raises MLflow's own error
        payload = response.json()
        return [_json_rows(run) for run in payload.get("runs", ())], payload.get("next_page_token")

    return search


def _all_pages(search: Search, ids: list[str], filter_string: str) -> list[list[RunRows]]:
    pages, token = [], None
    while True:
        page, token = search(ids, filter_string, token)
        pages.append(page)
        if not token:
            return pages


@dataclass(frozen=True)
class Keys:
    """The run tag, param and metric keys to keep; None keeps every key of that kind.

    A report reads a handful of keys while runs carry dozens (autologging logs every param
    of the estimator). Keeping only those is what lets a million-run window fit in memory;
    the SQL gatherer does not even read the others.
    """

    tags: frozenset[str] | None = None
    params: frozenset[str] | None = None
    metrics: frozenset[str] | None = None

    def describe(self) -> dict[str, list[str] | None] | None:
        """What a snapshot records of the keys it holds (None: every key of every kind)."""
        if self == Keys():
            return None
        return {kind: _sorted_or_none(getattr(self, kind)) for kind in _KEY_KINDS}

    @classmethod
    def described(cls, record: dict[str, list[str] | None] | None) -> Keys:
        """The Keys a snapshot's record stands for (the inverse of `describe`)."""
        record = record or {}
        return cls(**{k: None if v is None else frozenset(v) for k, v in record.items()})

    def covers(self, needed: Keys) -> bool:
        """True if data gathered with these keys holds every key `needed` asks for."""
        for kind in _KEY_KINDS:
            mine, theirs = getattr(self, kind), getattr(needed, kind)
            if mine is not None and (theirs is None or not theirs <= mine):
                return False
        return True


_KEY_KINDS = ("tags", "params", "metrics")


def _sorted_or_none(keys: frozenset[str] | None) -> list[str] | None:
    return None if keys is None else sorted(keys)


def gather_info(
    week: IsoWeek,
    history_weeks: int,
    tracking_uri: str,
    registry_uri: str,
    now: datetime | None,
    keys: Keys,
    **fetched: Any,
) -> GatherInfo:
    """What the completeness section states about a gather, whichever gatherer read the store;
    `fetched` holds what only the gatherer knows (pages, queries, runs, server version)."""
    return GatherInfo(
        week=str(week),
        history_weeks=history_weeks,
        window_start=iso_utc(week.start),
        window_end=iso_utc(week.end),
        history_start=iso_utc(week.shift(1 - history_weeks).start),
        tracking_uri=strip_credentials(tracking_uri),
        registry_uri=strip_credentials(registry_uri),
        gathered_at=iso_utc(now or datetime.now(UTC)),
        reporter_version=__version__,
        mlflow_client_version=_mlflow_version(),
        view_type="ACTIVE_ONLY",
        kept_keys=keys.describe(),
        **fetched,
    )


def _kept(rows: list[dict[str, Any]], wanted: frozenset[str] | None) -> list[dict[str, Any]]:
    return rows if wanted is None else [row for row in rows if row["key"] in wanted]


class _RunCollector:
    """Accumulates runs from overlapping queries, keeping the first copy of each run id."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.runs: dict[str, dict[str, Any]] = {}
        self.tags: list[dict[str, Any]] = []
        self.params: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.fetched = 0
        self.pages = 0

    def add_page(self, page: list[RunRows]) -> None:
        self.pages += 1
        for run, tags, params, metrics in page:
            self.fetched += 1
            if run["run_id"] in self.runs:
                continue
            self.runs[run["run_id"]] = run
            self.tags += _kept(tags, self.keys.tags)
            self.params += _kept(params, self.keys.params)
            self.metrics += _kept(metrics, self.keys.metrics)


def window_filters(history_start_ms: int, window_end_ms: int) -> list[str]:
    """Filters whose union is every run overlapping [history_start, window_end).

    MLflow's filter language has no OR, so overlap is three queries: runs started inside
    the window; runs started before it that ended inside or after its start; runs started
    before it and still running (no end time).
    """
    before = f"attributes.start_time < {history_start_ms}"
    return [
        f"attributes.start_time >= {history_start_ms} AND attributes.start_time < {window_end_ms}",
        f"{before} AND attributes.end_time >= {history_start_ms}",
        f"{before} AND attributes.status = '{RUNNING}'",
    ]


def sliced_window_filters(history_start_ms: int, window_end_ms: int, slices: int) -> list[str]:
    """`window_filters` with the first one cut into `slices` equal, disjoint time slices.

    Slices can be fetched concurrently; being disjoint, they never return a run twice.
    """
    span = window_end_ms - history_start_ms
    edges = [history_start_ms + span * i // slices for i in range(slices + 1)]
    inside = [
        f"attributes.start_time >= {low} AND attributes.start_time < {high}"
        for low, high in pairwise(edges)
        if low < high
    ]
    return [*inside, *window_filters(history_start_ms, window_end_ms)[1:]]


def gather(
    tracking_uri: str,
    week: IsoWeek,
    history_weeks: int,
    registry_uri: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    exclude_experiments: tuple[str, ...] = (),
    now: datetime | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    keys: Keys | None = None,
) -> Snapshot:
    """Fetch every run overlapping the history window, plus experiments and the registry.

    Over HTTP, `concurrency` run searches are in flight at once (1 fetches one at a time);
    other stores are read in-process, one query at a time. `keys` limits the run tags,
    params and metrics kept (default: all).
    """
    from mlflow import MlflowClient
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    registry_uri = registry_uri or tracking_uri
    opened = {uri: _open_uri(uri) for uri in {tracking_uri, registry_uri}}
    server_version = (
        probe_server(tracking_uri) if tracking_uri.startswith(("http://", "https://")) else None
    )
    history_start = week.shift(1 - history_weeks)
    collector = _RunCollector(keys or Keys())

    try:
        with _no_stray_folder():
            client = MlflowClient(
                tracking_uri=opened[tracking_uri], registry_uri=opened[registry_uri]
            )
            experiments = [
                exp
                for page in _paged(
                    lambda t: client.search_experiments(
                        view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=t
                    )
                )
                for exp in page
            ]
            excluded = sorted(e.name for e in experiments if e.name in exclude_experiments)
            experiments = [e for e in experiments if e.name not in exclude_experiments]
            ids = [e.experiment_id for e in experiments]
            rest = _rest_search(client, page_size)
            workers = max(1, concurrency) if rest else 1
            search = rest or _client_search(client, page_size)
            filters = sliced_window_filters(history_start.start_ms, week.end_ms, workers)
            queries = [
                (ids[first : first + EXPERIMENT_CHUNK], filter_string)
                for first in range(0, len(ids), EXPERIMENT_CHUNK)
                for filter_string in filters
            ]
            pool = ThreadPoolExecutor(workers, thread_name_prefix="reporter-search")
            try:
                # map keeps query order, so the first copy of a run is always the same one
                for pages in pool.map(lambda query: _all_pages(search, *query), queries):
                    for page in pages:
                        collector.add_page(page)
            finally:
                pool.shutdown(cancel_futures=True)
            models = [
                m
                for page in _paged(
                    lambda t: client.search_registered_models(
                        max_results=MODEL_PAGE_SIZE, page_token=t
                    )
                )
                for m in page
            ]
            versions = [
                v
                for page in _paged(
                    lambda t: client.search_model_versions(max_results=10_000, page_token=t)
                )
                for v in page
            ]
    except MlflowException as exc:
        raise GatherError(
            f"MLflow at {strip_credentials(tracking_uri)} failed: {_first_line(exc)}"
        ) from None
    except (OSError, ValueError) as exc:
        raise GatherError(
            f"reading MLflow at {strip_credentials(tracking_uri)} failed: {_first_line(exc)}"
        ) from None

    tables = {
        "experiments": make_table(
            "experiments",
            [
                {
                    "experiment_id": str(e.experiment_id),
                    "name": e.name,
                    "lifecycle_stage": e.lifecycle_stage,
                    "creation_time": _timestamp(e.creation_time),
                }
                for e in experiments
            ],
        ),
        "experiment_tags": make_table(
            "experiment_tags",
            [
                {"experiment_id": str(e.experiment_id), "key": k, "value": v}
                for e in experiments
                for k, v in e.tags.items()
            ],
        ),
        "runs": make_table("runs", list(collector.runs.values())),
        "run_tags": make_table("run_tags", collector.tags),
        "run_params": make_table("run_params", collector.params),
        "run_metrics": make_table("run_metrics", collector.metrics),
        "registered_models": make_table(
            "registered_models",
            [
                {
                    "name": m.name,
                    "creation_time": _timestamp(m.creation_timestamp),
                    "last_updated_time": _timestamp(m.last_updated_timestamp),
                }
                for m in models
            ],
        ),
        "model_versions": make_table(
            "model_versions",
            [
                {
                    "name": v.name,
                    "version": int(v.version),
                    "creation_time": _timestamp(v.creation_timestamp),
                    "last_updated_time": _timestamp(v.last_updated_timestamp),
                    "current_stage": v.current_stage,
                    "status": v.status,
                    "run_id": v.run_id,
                    "source": v.source,
                }
                for v in versions
            ],
        ),
        # Alias versions come back as int from sqlite and as str over HTTP: normalise to int.
        "aliases": make_table(
            "aliases",
            [
                {"name": m.name, "alias": alias, "version": int(version)}
                for m in models
                for alias, version in (m.aliases or {}).items()
            ],
        ),
    }
    info = gather_info(
        week,
        history_weeks,
        tracking_uri,
        registry_uri,
        now,
        collector.keys,
        mlflow_server_version=server_version,
        page_size=page_size,
        run_queries=len(queries),
        run_pages=collector.pages,
        runs_fetched=collector.fetched,
        duplicate_runs_dropped=collector.fetched - len(collector.runs),
        experiments_excluded=excluded,
    )
    return Snapshot(info=info, tables=tables)


def _open_uri(uri: str) -> str:
    path = sqlite_path(uri)
    if path is not None:
        return read_only_sqlite_uri(path)
    if uri.startswith(("http://", "https://")):
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
    elif (
        not uri.startswith(("databricks", "file:", "postgresql", "mysql", "mssql")) and "://" in uri
    ):
        raise UsageError(f"unsupported tracking URI scheme in {strip_credentials(uri)!r}")
    return uri


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    with suppress(ValueError, AttributeError):  # MLflow wraps server errors as JSON
        first = json.loads(first).get("message", first)
    return first[:300]
