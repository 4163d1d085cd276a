"""Email a built report folder over SMTP: HTML summary with inline charts, text alternative, PDF.

Settings come from the environment (SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD,
SMTP_SECURITY, SMTP_CA_FILE, REPORT_FROM, REPORT_TO, REPORT_URL), else from the config file's
`email:` section: the environment wins, and the password only ever comes from SMTP_PASSWORD.
An empty variable counts as unset (CI passes a secret that does not exist as "").

The connection is encrypted (STARTTLS or implicit TLS) with certificate and host name
verification; plain SMTP is allowed only to a relay on localhost. Connection errors and 4xx
replies are retried with exponential backoff, 5xx replies are not. Delivery is idempotent:
`sent.json` in the report folder records who got the report, and a later send skips them.

Names in the message come from MLflow or the config file: header values are stripped of
control characters (no header injection through CR/LF) and the HTML body is autoescaped.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import jinja2

from reporter.compute.results import WeeklyResults
from reporter.config import Email
from reporter.errors import DeliveryError, UsageError
from reporter.export.files import atomic_write
from reporter.render.format import (
    money,
    number,
    percent,
    signed_money,
    signed_number,
    signed_percent,
    truncate,
)
from reporter.render.report import EMAIL_CHARTS
from reporter.weeks import IsoWeek

SENT_FILE = "sent.json"
SENT_FORMAT = 1
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
TOP_TEAMS = 5
CHART_ALT = {
    "cost-per-week": "Chart: compute cost per week, by team",
    "runs-by-status": "Chart: runs started per week, by final status",
}
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send, resolved from the environment and the config's `email:` section."""

    host: str
    port: int
    security: str
    sender: Address
    recipients: tuple[Address, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_s: float = 30.0
    attempts: int = 3
    backoff_s: float = 5.0
    max_attachment_bytes: int = 10_000_000
    report_url: str | None = None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_settings(config: Email, environ: Mapping[str, str] | None = None) -> SmtpSettings:
    """Resolve the settings, environment first; a missing or invalid one is a UsageError."""
    env = {
        key: value.strip()
        for key, value in (os.environ if environ is None else environ).items()
        if value.strip()
    }
    host = env.get("SMTP_HOST") or config.smtp_host
    if not host:
        raise UsageError("email: no SMTP server; set SMTP_HOST or email.smtp_host in the config")
    security = env.get("SMTP_SECURITY", config.smtp_security).lower()
    if security not in DEFAULT_PORTS:
        raise UsageError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    if security == "none" and host not in LOCAL_HOSTS:
        raise UsageError(
            f"SMTP_SECURITY=none sends in clear text: allowed only to a relay on localhost, not {host}"
        )
    username = env.get("SMTP_USERNAME") or config.smtp_username
    password = env.get("SMTP_PASSWORD")
    if bool(username) != bool(password):
        raise UsageError("email: set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
    ca_file = env.get("SMTP_CA_FILE") or config.smtp_ca_file
    if ca_file and not Path(ca_file).is_file():
        raise UsageError(f"SMTP_CA_FILE {ca_file} does not exist")
    sender = _addresses(env.get("REPORT_FROM") or config.sender or "", "REPORT_FROM")
    if len(sender) != 1:
        raise UsageError("email: set one sender in REPORT_FROM or email.from in the config")
    recipients = _addresses(env.get("REPORT_TO") or ", ".join(config.to), "REPORT_TO")
    if not recipients:
        raise UsageError("email: no recipients; set REPORT_TO or email.to in the config")
    return SmtpSettings(
        host=host,
        port=_port(env.get("SMTP_PORT"), config.smtp_port, security),
        security=security,
        sender=sender[0],
        recipients=recipients,
        username=username,
        password=password,
        ca_file=Path(ca_file) if ca_file else None,
        timeout_s=config.timeout_s,
        attempts=config.attempts,
        backoff_s=config.backoff_s,
        max_attachment_bytes=round(config.max_attachment_mb * 1_000_000),
        report_url=env.get("REPORT_URL") or config.report_url,
    )


def _port(from_env: str | None, from_config: int | None, security: str) -> int:
    if from_env is None:
        return from_config or DEFAULT_PORTS[security]
    if not from_env.isdigit() or not 0 < int(from_env) < 65536:
        raise UsageError(f"SMTP_PORT must be a port number, not {from_env!r}")
    return int(from_env)


def _addresses(text: str, source: str) -> tuple[Address, ...]:
    """'A <a@x.org>, b@y.org' -> Addresses; anything that is not a plain address is refused."""
    if any(ch in text for ch in "\r\n"):
        raise UsageError(f"{source} contains a line break")
    found = []
    for name, addr in getaddresses([text]):
        if not _ADDRESS.fullmatch(addr):
            raise UsageError(f"{source}: {addr or text!r} is not an email address")
        user, domain = addr.rsplit("@", 1)
        found.append(Address(display_name=name, username=user, domain=domain))
    return tuple(found)


def header_text(value: object) -> str:
    """A value fit for one header line: line breaks, control and format characters become spaces."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(value))
    return " ".join(text.split())


# ---- the message -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the headline table: label, this week's value, change against last week."""

    label: str
    value: str
    change: str = ""


def subject(title: str, results: WeeklyResults) -> str:
    """'ML cost & KPI report 2026-W48: 1,234 USD (+8%)'."""
    cost = results.cost
    text = f"{title} {results.week}: {round(cost.total):,} {cost.currency}"
    if cost.delta is not None and cost.delta.percent is not None:
        text += f" ({cost.delta.percent:+.0f}%)"
    return header_text(text)


def headline(results: WeeklyResults) -> list[Figure]:
    cost, runs = results.cost, results.runs
    currency = cost.currency
    cost_change = ""
    if cost.delta is not None:
        cost_change = (
            f"{signed_money(cost.delta.absolute, currency)} ({signed_percent(cost.delta.percent)})"
        )
    return [
        Figure("Total cost", money(cost.total, currency), cost_change),
        Figure("Compute", money(cost.compute, currency)),
        Figure("Fixed costs", money(cost.fixed, currency)),
        Figure(
            "Waste (failed, killed, over-long runs)",
            money(cost.waste, currency),
            f"{percent(cost.waste_share)} of compute",
        ),
        Figure("Runs started", number(runs.total), signed_number(runs.delta_total)),
        Figure("Failure rate", percent(runs.failure_rate)),
        Figure("Model versions created", number(results.deployments.model_versions_created)),
        Figure(f"Forecast for {cost.forecast.week}", money(cost.forecast.total, currency)),
    ]


@dataclass(frozen=True)
class BuiltReport:
    """The files of a report folder that go into the email."""

    folder: Path
    results: WeeklyResults
    pdf: bytes
    charts: dict[str, bytes]

    @classmethod
    def load(cls, folder: Path, week: IsoWeek) -> BuiltReport:
        kpis = folder / "kpis.json"
        if not kpis.is_file():
            raise UsageError(
                f"no report for {week} in {folder.parent}: run 'reporter build --week {week}' first"
            )
        try:
            results = WeeklyResults.from_json(kpis.read_text(encoding="utf-8"))
            pdf = (folder / "report.pdf").read_bytes()
            charts = {
                chart: (folder / "charts" / f"{chart}.png").read_bytes()
                for chart in EMAIL_CHARTS
                if (folder / "charts" / f"{chart}.png").is_file()
            }
        except (OSError, ValueError) as exc:
            raise UsageError(f"report folder {folder} is not readable: {_one_line(exc)}") from None
        if results.week != str(week):
            raise UsageError(f"{kpis} is for {header_text(results.week)}, not {week}")
        return cls(folder=folder, results=results, pdf=pdf, charts=charts)


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light only">
<title>{{ subject }}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:640px;background-color:#ffffff;font-family:Arial,Helvetica,sans-serif;color:#222222;font-size:14px;line-height:20px;">
<tr><td style="padding:20px 24px 4px 24px;">
<h1 style="margin:0;font-size:20px;line-height:26px;color:#111111;">{{ title }}</h1>
<p style="margin:4px 0 0 0;color:#555555;">Week {{ week }}: {{ first_day }} to {{ last_day }} (UTC)</p>
</td></tr>
{% if alerts %}
<tr><td style="padding:12px 24px 0 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#fff4e5;border-left:4px solid #d55e00;">
{% for alert in alerts %}<tr><td style="padding:6px 12px;color:#5c2b00;">{{ alert }}</td></tr>
{% endfor %}</table>
</td></tr>
{% endif %}
<tr><td style="padding:16px 24px 0 24px;">
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">
<caption style="text-align:left;font-weight:bold;font-size:16px;padding:0 0 6px 0;">Headline figures</caption>
<tr><th scope="col" align="left" style="padding:6px 8px;border-bottom:2px solid #222222;">&nbsp;</th><th scope="col" align="right" style="padding:6px 8px;border-bottom:2px solid #222222;">This week</th><th scope="col" align="right" style="padding:6px 8px;border-bottom:2px solid #222222;">vs last week</th></tr>
{% for figure in figures %}<tr><th scope="row" align="left" style="padding:6px 8px;border-bottom:1px solid #dddddd;font-weight:normal;">{{ figure.label }}</th><td align="right" style="padding:6px 8px;border-bottom:1px solid #dddddd;font-weight:bold;white-space:nowrap;">{{ figure.value }}</td><td align="right" style="padding:6px 8px;border-bottom:1px solid #dddddd;color:#555555;white-space:nowrap;">{{ figure.change }}</td></tr>
{% endfor %}</table>
</td></tr>
{% if teams %}
<tr><td style="padding:16px 24px 0 24px;">
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">
<caption style="text-align:left;font-weight:bold;font-size:16px;padding:0 0 6px 0;">Compute cost by team</caption>
{% for name, cost in teams %}<tr><th scope="row" align="left" style="padding:6px 8px;border-bottom:1px solid #dddddd;font-weight:normal;">{{ name }}</th><td align="right" style="padding:6px 8px;border-bottom:1px solid #dddddd;white-space:nowrap;">{{ cost }}</td></tr>
{% endfor %}</table>
</td></tr>
{% endif %}
{% for chart in charts %}
<tr><td style="padding:16px 24px 0 24px;">
<img src="cid:{{ chart.cid }}" alt="{{ chart.alt }}" width="592" style="display:block;width:100%;max-width:592px;height:auto;border:0;">
</td></tr>
{% endfor %}
<tr><td style="padding:16px 24px 20px 24px;color:#555555;">
{% if attached %}<p style="margin:0;">The full report is attached: {{ attachment }}.</p>
{% else %}<p style="margin:0;">The full report ({{ pdf_size }} PDF) is over the {{ limit }} attachment limit and is not attached. It is at:
{% if link %}<a href="{{ where }}" style="color:#0072b2;">{{ where }}</a>{% else %}{{ where }}{% endif %}</p>
{% endif %}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""
)


@dataclass(frozen=True)
class _InlineChart:
    cid: str
    alt: str


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1000))} KB"


def build_message(
    report: BuiltReport, settings: SmtpSettings, title: str, now: datetime | None = None
) -> tuple[EmailMessage, bool]:
    """The message for `report`, and whether its PDF is attached (it is not when too large)."""
    results = report.results
    week = IsoWeek.parse(results.week)
    attached = len(report.pdf) <= settings.max_attachment_bytes
    where = settings.report_url or str((report.folder / "report.pdf").resolve())
    attachment = f"report-{week}.pdf"
    figures = headline(results)
    alerts = [truncate(alert.message, 300) for alert in results.alerts]
    teams = [
        (truncate(team.name), money(team.cost, results.cost.currency))
        for team in results.cost.by_team[:TOP_TEAMS]
    ]
    mail_subject = subject(title, results)
    first_day, last_day = week.start.date(), (week.end - timedelta(days=1)).date()
    cids = {chart: f"{chart}.{week}@reporter" for chart in report.charts}

    message = EmailMessage()
    message["Subject"] = mail_subject
    message["From"] = settings.sender
    message["To"] = settings.recipients
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        _text_body(
            header_text(title),
            str(week),
            f"{first_day} to {last_day} (UTC)",
            figures,
            alerts,
            teams,
            f"The full report is attached: {attachment} ({_size(len(report.pdf))})."
            if attached
            else f"The full report ({_size(len(report.pdf))} PDF) is over the "
            f"{_size(settings.max_attachment_bytes)} attachment limit and is not attached. "
            f"It is at:\n{where}",
        )
    )
    message.add_alternative(
        _HTML.render(
            subject=mail_subject,
            title=header_text(title),
            week=str(week),
            first_day=first_day,
            last_day=last_day,
            alerts=alerts,
            figures=figures,
            teams=teams,
            charts=[_InlineChart(cids[c], CHART_ALT.get(c, c)) for c in report.charts],
            attached=attached,
            attachment=attachment,
            pdf_size=_size(len(report.pdf)),
            limit=_size(settings.max_attachment_bytes),
            where=where,
            link=where.startswith(("https://", "http://")),
        ),
        subtype="html",
    )
    html_part = message.get_payload()[1]
    for chart, png in report.charts.items():
        html_part.add_related(
            png,
            "image",
            "png",
            cid=f"<{cids[chart]}>",
            filename=f"{chart}.png",
            disposition="inline",
        )
    if attached:
        message.add_attachment(report.pdf, "application", "pdf", filename=attachment)
    return message, attached


def _text_body(
    title: str,
    week: str,
    days: str,
    figures: list[Figure],
    alerts: list[str],
    teams: list[tuple[str, str]],
    closing: str,
) -> str:
    width = max(len(f.label) for f in figures) + 2
    value_width = max(len(f.value) for f in figures) + 2
    lines = [title, f"Week {week}: {days}", ""]
    if alerts:
        lines += ["Alerts:", *(f"- {alert}" for alert in alerts), ""]
    lines.append(f"{'Headline figures':<{width}}{'This week':>{value_width}}  vs last week")
    lines += [f"{f.label:<{width}}{f.value:>{value_width}}  {f.change}".rstrip() for f in figures]
    if teams:
        name_width = max(len(name) for name, _ in teams) + 2
        cost_width = max(len(cost) for _, cost in teams)
        lines += ["", "Compute cost by team:"]
        lines += [f"  {name:<{name_width}}{cost:>{cost_width}}" for name, cost in teams]
    lines += ["", closing, ""]
    return "\n".join(lines)


# ---- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What a send did: addresses mailed now, skipped (mailed before), and whether the PDF went."""

    sent: tuple[str, ...]
    skipped: tuple[str, ...]
    attached: bool


def send_report(
    folder: Path,
    week: IsoWeek,
    settings: SmtpSettings,
    title: str,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Email the report in `folder` to the recipients who have not had it yet (all if `force`).

    Records who accepted it in `sent.json`, then raises DeliveryError if any recipient was
    refused or the server could not be reached.
    """
    report = BuiltReport.load(folder, week)
    already = _sent_to(folder)
    pending = [r for r in settings.recipients if force or r.addr_spec.lower() not in already]
    skipped = tuple(r.addr_spec for r in settings.recipients if r not in pending)
    if not pending:
        return Delivery(sent=(), skipped=skipped, attached=False)
    message, attached = build_message(report, settings, title)
    accepted, failed = _deliver(message, settings, [r.addr_spec for r in pending], week, sleep)
    if accepted:
        _record(folder, message, accepted, attached)
    if failed:
        others = f"; sent to {len(accepted)} other(s)" if accepted else ""
        raise DeliveryError(
            f"email for {week} not delivered to "
            + ", ".join(f"{addr} ({reason})" for addr, reason in failed.items())
            + others
        )
    return Delivery(sent=tuple(accepted), skipped=skipped, attached=attached)


def _deliver(
    message: EmailMessage,
    settings: SmtpSettings,
    to: list[str],
    week: IsoWeek,
    sleep: Callable[[float], None],
) -> tuple[list[str], dict[str, str]]:
    """Send to `to`, retrying connection errors and 4xx replies with exponential backoff.

    A 4xx reply to one recipient retries that recipient only. Returns the accepted addresses
    and, for each one not delivered, why; raises DeliveryError when none could be delivered.
    """
    pending, accepted, failed = list(to), [], {}
    for attempt in range(1, settings.attempts + 1):
        if attempt > 1:
            sleep(settings.backoff_s * 2 ** (attempt - 2))
        tries = f" (after {attempt} attempts)" if attempt > 1 else ""
        try:
            with _connect(settings) as smtp:
                rejected = _send(smtp, message, settings.sender.addr_spec, pending)
        except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
            if _transient(exc) and attempt < settings.attempts:
                continue
            reason = f"{settings.server}: {_describe(exc)}{tries}"
            if not accepted:
                raise DeliveryError(f"email for {week} not sent: {reason}") from None
            failed.update(dict.fromkeys(pending, reason))
            break
        accepted += [addr for addr in pending if addr not in rejected]
        pending = [addr for addr, (code, _) in rejected.items() if 400 <= code < 500]
        final = attempt == settings.attempts
        failed.update(
            {
                addr: _reply(*reply) + (tries if addr in pending else "")
                for addr, reply in rejected.items()
                if final or addr not in pending
            }
        )
        if final or not pending:
            break
    return accepted, failed


def _send(
    smtp: smtplib.SMTP, message: EmailMessage, sender: str, to: list[str]
) -> dict[str, tuple[int, bytes]]:
    """The recipients the server refused; smtplib raises only when it refuses all of them."""
    try:
        return smtp.send_message(message, from_addr=sender, to_addrs=to)
    except smtplib.SMTPRecipientsRefused as exc:
        return exc.recipients


@contextmanager
def _connect(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A connected, encrypted (unless 'none') and logged-in SMTP session; QUIT on exit."""
    context = None
    if settings.security != "none":
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    try:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        yield smtp
    finally:
        # a failed QUIT after the message was accepted must not turn into a resend
        with suppress(OSError):
            smtp.quit()
        smtp.close()


def _transient(exc: BaseException) -> bool:
    """Worth retrying: a 4xx reply, a dropped or timed-out connection. Never a TLS failure."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPException | ssl.SSLError):
        return False
    return isinstance(exc, OSError)


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _one_line(f"{code} {text}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate not trusted ({exc.verify_message}); for a private CA set SMTP_CA_FILE"
        )
    return _one_line(exc)


def _one_line(value: object) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text[:300]


# ---- the record of what was sent ----------------------------------------------------------


def _read_sent(folder: Path) -> list[dict[str, object]]:
    path = folder / SENT_FILE
    if not path.exists():
        return []
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != SENT_FORMAT or not isinstance(record.get("sent"), list):
            raise ValueError(f"unknown format {record.get('format')!r}")
        return record["sent"]
    except (OSError, ValueError, AttributeError) as exc:
        raise UsageError(f"cannot read {path}: {_one_line(exc)}") from None


def _sent_to(folder: Path) -> set[str]:
    return {str(addr).lower() for entry in _read_sent(folder) for addr in entry.get("to", [])}


def _record(folder: Path, message: EmailMessage, to: list[str], attached: bool) -> None:
    entry = {
        "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message_id": str(message["Message-ID"]),
        "subject": str(message["Subject"]),
        "to": to,
        "pdf_attached": attached,
    }
    record = {"format": SENT_FORMAT, "sent": [*_read_sent(folder), entry]}
    atomic_write(folder / SENT_FILE, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
