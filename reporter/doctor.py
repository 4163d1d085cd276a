"""`reporter doctor`: check the machine and the settings before the weekly job needs them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from reporter.config import Email
from reporter.errors import ReporterError

FONTS = {
    "DejaVu Sans": "fonts-dejavu-core",
    "Noto Sans": "fonts-noto-core",
    "Noto Sans CJK SC": "fonts-noto-cjk",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        fix = f" -> {self.fix}" if self.fix and not self.ok else ""
        return f"{status} {self.name}: {self.detail}{fix}"


def check_browser() -> Check:
    """Render one tiny chart: proves kaleido finds a browser that answers."""
    import plotly.graph_objects as go

    from reporter.render.charts import render_static

    try:
        svgs, _ = render_static([go.Figure(go.Bar(x=["a"], y=[1]))], timeout_s=60)
    except ReporterError as exc:
        return Check("browser", False, str(exc), "apt-get install chromium, or set BROWSER_PATH")
    return Check(
        "browser", True, f"headless Chromium rendered a chart ({len(svgs[0]):,} bytes of SVG)"
    )


def check_fonts() -> Check:
    if shutil.which("fc-list") is None:
        return Check("fonts", False, "fontconfig (fc-list) not found", "apt-get install fontconfig")
    listed = subprocess.run(
        ["fc-list", ":", "family"], capture_output=True, text=True, check=False
    ).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    missing = [family for family in FONTS if family not in families]
    if missing:
        packages = " ".join(sorted({FONTS[m] for m in missing}))
        return Check("fonts", False, f"missing {', '.join(missing)}", f"apt-get install {packages}")
    return Check("fonts", True, ", ".join(FONTS))


def check_pdf() -> Check:
    """Make a one-page PDF: proves WeasyPrint and its Pango libraries load."""
    try:
        from reporter.export.pdf import export_pdf

        pdf = export_pdf("<p>reporter doctor</p>")
    except (ImportError, OSError, ReporterError) as exc:
        return Check(
            "pdf",
            False,
            f"WeasyPrint cannot make a PDF: {str(exc).splitlines()[0]}",
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0",
        )
    return Check("pdf", True, f"WeasyPrint made a {len(pdf):,}-byte PDF")


def check_mlflow(tracking_uri: str | None) -> Check:
    """Reach the tracking server (or open the sqlite store read-only, schema checked) and list
    one experiment."""
    if not tracking_uri:
        return Check(
            "mlflow", False, "no tracking URI", "pass --tracking-uri or set MLFLOW_TRACKING_URI"
        )
    from reporter.gather.mlflow_source import (
        probe_server,
        read_only_sqlite_uri,
        sqlite_path,
        strip_credentials,
    )

    shown = strip_credentials(tracking_uri)
    try:
        path = sqlite_path(tracking_uri)
        uri = read_only_sqlite_uri(path) if path is not None else tracking_uri
        version = (
            probe_server(tracking_uri) if tracking_uri.startswith(("http://", "https://")) else None
        )
        from mlflow import MlflowClient

        found = MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except ReporterError as exc:
        return Check("mlflow", False, str(exc))
    except Exception as exc:  # MLflow raises many types; the first line says enough
        return Check("mlflow", False, f"{shown}: {str(exc).splitlines()[0]}")
    server = f"MLflow {version}, " if version else ""
    return Check("mlflow", True, f"{shown} answers ({server}{len(found)} experiment listed)")


def check_email(settings: Email) -> Check:
    """The SMTP settings are complete (no connection is made)."""
    from reporter.publish.email import smtp_settings

    try:
        smtp = smtp_settings(settings)
    except ReporterError as exc:
        return Check(
            "email", False, str(exc), "set SMTP_HOST, REPORT_FROM and REPORT_TO (see README)"
        )
    return Check(
        "email", True, f"{smtp.server} ({smtp.security}), {len(smtp.recipients)} recipient(s)"
    )


def run_checks(checks: list[Callable[[], Check]]) -> list[Check]:
    return [check() for check in checks]
