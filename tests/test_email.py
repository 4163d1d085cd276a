"""Email delivery on real parts: a built report folder, aiosmtpd on 127.0.0.1, the `email` parser."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from bs4 import BeautifulSoup

from reporter.config import parse_config
from reporter.errors import ConfigError, DeliveryError, UsageError
from reporter.gather import gather
from reporter.job import save_report
from reporter.publish.email import SENT_FILE, SmtpSettings, send_report, smtp_settings
from tests.conftest import RATE_CARD, WEEK, Store, free_port
from tests.test_cli import assert_one_line_error, reporter

TITLE = "ML cost & KPI report"
SUBJECT = "ML cost & KPI report 2026-W48: 33 EUR (+992%)"  # 32.75 EUR, W47: 3.00 EUR
LEAD, CFO, NOBODY = "lead@example.com", "cfo@example.com", "nobody@example.com"
BACKOFF = 0.01
GOOD_ENV = {"SMTP_HOST": "smtp.example.com", "REPORT_FROM": "r@example.com", "REPORT_TO": LEAD}


@pytest.fixture(scope="module")
def built(small_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made week built once into a report folder; tests work on copies."""
    snapshot = gather(small_store.uri, WEEK, history_weeks=2)
    return save_report(snapshot, parse_config(RATE_CARD), tmp_path_factory.mktemp("built"))


@pytest.fixture
def report(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built report folder: `<tmp>/reports/2026-W48`."""
    return Path(shutil.copytree(built, tmp_path / "reports" / str(WEEK)))


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it receives and refuses what it is told to."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    defer_once: set[str] = field(default_factory=set)  # a 450 to their first RCPT
    data_replies: list[str] = field(default_factory=list)  # answers to the next DATA commands

    async def handle_RCPT(self, server, session, envelope, address: str, options) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "450 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def message(self, index: int = -1) -> EmailMessage:
        return message_from_bytes(self.received[index][1], policy=policy.default)


@dataclass
class Server:
    mailbox: Mailbox
    port: int


@contextmanager
def serve(**options: Any) -> Iterator[Server]:
    """A real SMTP server on 127.0.0.1 at a free port, for the duration of a test."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield Server(mailbox, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    with serve() as server:
        yield server


def settings(port: int, *to: str, **changes: Any) -> SmtpSettings:
    """Plain SMTP to the local test server (allowed on localhost only), fast backoff."""
    base = SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        sender=Address("ML reports", "ml-reports", "example.com"),
        recipients=tuple(Address(addr_spec=addr) for addr in (to or (LEAD, CFO))),
        timeout_s=5,
        backoff_s=BACKOFF,
    )
    return replace(base, **changes)


def sent_record(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / SENT_FILE).read_text())["sent"]


# ---- the message ----------------------------------------------------------------------------


def test_message_has_figures_in_html_and_text_inline_charts_and_the_pdf(
    report: Path, smtp: Server
) -> None:
    # given a built report and an SMTP server; when the report is sent to two recipients
    delivery = send_report(report, WEEK, settings(smtp.port), TITLE)

    # then one message reached both, with the headers of an automated report
    assert delivery.sent == (LEAD, CFO) and delivery.attached
    [(envelope_to, _)] = smtp.mailbox.received
    assert envelope_to == [LEAD, CFO]
    message = smtp.mailbox.message()
    assert message["Subject"] == SUBJECT
    assert message["From"] == "ML reports <ml-reports@example.com>"
    assert message["To"] == f"{LEAD}, {CFO}"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.com>") and message["Date"]

    # and it is text + HTML with the charts inline, and the PDF attached
    assert message.get_content_type() == "multipart/mixed"
    body, attachment = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    text, related = body.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.iter_parts()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "report-2026-W48.pdf"
    assert attachment.get_content() == (report / "report.pdf").read_bytes()

    # the HTML: inline CSS only, the headline figures as a table, images by Content-ID
    page = BeautifulSoup(html.get_content(), "html.parser")
    assert page.find("style") is None and page.find("link") is None and page.find("script") is None
    assert page.find("table")["style"]
    figures = {
        row.th.get_text(strip=True): [td.get_text(strip=True) for td in row.find_all("td")]
        for row in page.find("caption", string="Headline figures").parent.find_all("tr")[1:]
    }
    assert figures["Total cost"] == ["32.75 EUR", "+29.75 EUR (+991.7%)"]
    assert figures["Runs started"][0] == "9"
    assert figures["Model versions created"][0] == "1"
    cids = {image["Content-ID"].strip("<>"): image for image in images}
    sources = [img["src"] for img in page.find_all("img")]
    assert sources and [s.removeprefix("cid:") for s in sources] == list(cids)
    assert all(img["alt"] for img in page.find_all("img"))
    for image in images:
        assert image.get_content_type() == "image/png"
        name = image.get_filename()
        assert image.get_content() == (report / "charts" / name).read_bytes()

    # the text alternative carries the same figures
    plain = text.get_content()
    assert "32.75 EUR" in plain and "+29.75 EUR (+991.7%)" in plain
    assert "report-2026-W48.pdf" in plain

    # and the folder records who got it
    [entry] = sent_record(report)
    assert entry["to"] == [LEAD, CFO] and entry["message_id"] == message["Message-ID"]


def test_a_pdf_over_the_limit_is_not_attached_and_the_mail_says_where_it_is(
    report: Path, smtp: Server
) -> None:
    # given an attachment limit below the PDF's size and a link to the CI run
    url = "https://ci.example.com/runs/42"
    small = settings(smtp.port, max_attachment_bytes=1_000, report_url=url)
    # when the report is sent
    delivery = send_report(report, WEEK, small, TITLE)
    # then the mail has no attachment but points at the report, in both bodies
    assert not delivery.attached
    message = smtp.mailbox.message()
    assert message.get_content_type() == "multipart/alternative"
    assert not any(part.get_content_type() == "application/pdf" for part in message.walk())
    text = message.get_body(("plain",)).get_content()
    assert url in text and "not attached" in text
    html = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    assert html.find("a", href=url) is not None


def test_names_from_mlflow_or_the_config_cannot_inject_headers_or_markup(
    report: Path, smtp: Server
) -> None:
    # given a team name (from MLflow), an alert and a title carrying CR/LF and markup
    evil = '<img src=x onerror="alert(1)">\r\nBcc: evil@example.com'
    kpis = json.loads((report / "kpis.json").read_text())
    kpis["cost"]["by_team"][0]["name"] = evil
    kpis["alerts"].append({"kind": "budget", "message": evil})
    (report / "kpis.json").write_text(json.dumps(kpis))

    # when it is sent with that title
    send_report(report, WEEK, settings(smtp.port, LEAD), "Weekly\r\nBcc: evil@example.com")

    # then no header was added and nobody else got it
    [(envelope_to, raw)] = smtp.mailbox.received
    assert envelope_to == [LEAD]
    message = smtp.mailbox.message()
    assert message["Bcc"] is None
    assert message["Subject"] == "Weekly Bcc: evil@example.com 2026-W48: 33 EUR (+992%)"
    headers = {"Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted", "MIME-Version"}
    assert sorted(message.keys()) == sorted({*headers, "Content-Type"})
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in header_block and b"\nBcc:" not in header_block
    # and the markup is shown as text: the only images are the inline charts
    page = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    assert all(img["src"].startswith("cid:") for img in page.find_all("img"))
    assert '<img src=x onerror="alert(1)">' in page.get_text()
    assert not any(
        line.startswith("Bcc:") for line in message.get_body(("plain",)).get_content().splitlines()
    )


# ---- delivery -------------------------------------------------------------------------------


def test_a_refused_recipient_is_reported_and_the_others_still_get_the_report(
    report: Path, smtp: Server
) -> None:
    # given a server that rejects one of the two recipients
    smtp.mailbox.refuse[NOBODY] = "550 5.1.1 no such user"
    # when the report is sent
    with pytest.raises(DeliveryError, match=r"nobody@example\.com \(550 5\.1\.1 no such user\)"):
        send_report(report, WEEK, settings(smtp.port, LEAD, NOBODY), TITLE)
    # then the other got it, and only they are recorded as sent
    assert [to for to, _ in smtp.mailbox.received] == [[LEAD]]
    assert [entry["to"] for entry in sent_record(report)] == [[LEAD]]


def test_a_second_send_is_skipped_unless_forced(report: Path, smtp: Server) -> None:
    # given a report already sent
    send_report(report, WEEK, settings(smtp.port), TITLE)
    # when it is sent again to the same recipients
    again = send_report(report, WEEK, settings(smtp.port), TITLE)
    # then nothing is sent
    assert again.sent == () and again.skipped == (LEAD, CFO)
    assert len(smtp.mailbox.received) == 1
    # when a recipient is added, only they get it; with force, everybody does
    added = send_report(report, WEEK, settings(smtp.port, LEAD, CFO, NOBODY), TITLE)
    assert added.sent == (NOBODY,) and added.skipped == (LEAD, CFO)
    forced = send_report(report, WEEK, settings(smtp.port), TITLE, force=True)
    assert forced.sent == (LEAD, CFO)
    assert [to for to, _ in smtp.mailbox.received] == [[LEAD, CFO], [NOBODY], [LEAD, CFO]]
    assert len(sent_record(report)) == 3


def test_a_4xx_reply_is_retried_with_backoff_and_a_5xx_reply_is_not(
    report: Path, smtp: Server
) -> None:
    # given a server that defers the message once
    smtp.mailbox.data_replies.append("451 4.3.0 try again later")
    sleeps: list[float] = []
    # when the report is sent, then it arrives on the second attempt after one backoff
    send_report(report, WEEK, settings(smtp.port), TITLE, sleep=sleeps.append)
    assert sleeps == [BACKOFF] and len(smtp.mailbox.received) == 1

    # given a server that defers one recipient once; when sent again, then only that
    # recipient is retried
    smtp.mailbox.defer_once.add(LEAD)
    sleeps.clear()
    send_report(report, WEEK, settings(smtp.port), TITLE, force=True, sleep=sleeps.append)
    assert sleeps == [BACKOFF]
    assert [to for to, _ in smtp.mailbox.received[1:]] == [[CFO], [LEAD]]
    assert sent_record(report)[-1]["to"] == [CFO, LEAD]

    # given a server that rejects the message for good
    smtp.mailbox.data_replies.append("554 5.7.1 message rejected")
    sleeps.clear()
    # when it is sent again, then it fails at once, naming the reply
    with pytest.raises(DeliveryError, match=r"554 5\.7\.1 message rejected$"):
        send_report(report, WEEK, settings(smtp.port), TITLE, force=True, sleep=sleeps.append)
    assert sleeps == [] and len(smtp.mailbox.received) == 3


def test_a_refused_connection_is_retried_with_growing_backoff_then_reported(
    report: Path,
) -> None:
    # given nothing listening on the port
    sleeps: list[float] = []
    # when the report is sent, then every attempt fails and the error says so
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+: .*refused.*after 3 attempts"):
        send_report(report, WEEK, settings(free_port()), TITLE, sleep=sleeps.append)
    assert sleeps == [BACKOFF, 2 * BACKOFF]
    assert not (report / SENT_FILE).exists()


def test_a_server_that_never_greets_times_out_in_bounded_time(report: Path) -> None:
    # given a server that accepts connections but never says a word
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        port = silent.getsockname()[1]
        sleeps: list[float] = []
        started = time.monotonic()
        # when the report is sent with a 0.5 s timeout and 2 attempts
        with pytest.raises(DeliveryError, match=r"timed out \(after 2 attempts\)"):
            send_report(
                report,
                WEEK,
                settings(port, timeout_s=0.5, attempts=2),
                TITLE,
                sleep=sleeps.append,
            )
        # then it gives up after about two timeouts, not hanging
        assert time.monotonic() - started < 15
    assert sleeps == [BACKOFF]


# ---- TLS ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1 that it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key, issuer: x509.Certificate | None, signer, *extensions):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(signer, hashes.SHA256())

    usage = dict.fromkeys(
        [
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        "reporter test CA",
        ca_key,
        None,
        ca_key,
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), True),
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(
        "127.0.0.1",
        key,
        ca,
        ca_key,
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        ),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return Tls(ca_file=folder / "ca.pem", server=context)


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(
        success=(auth_data.login, auth_data.password) == (b"reporter", b"s3cret"), handled=False
    )


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_verifies_the_server_certificate(
    security: str, tls: Tls, report: Path, tmp_path: Path
) -> None:
    # given a server with a certificate from a private CA, requiring TLS (and login)
    options: dict[str, Any] = (
        {"tls_context": tls.server, "require_starttls": True, "authenticator": check_login}
        if security == "starttls"
        else {"ssl_context": tls.server}
    )
    with serve(**options) as server:
        over_tls = settings(server.port, security=security)
        if security == "starttls":
            over_tls = replace(over_tls, username="reporter", password="s3cret")
        sleeps: list[float] = []
        # when the CA is not trusted, then delivery fails at once: no retry, nothing sent
        with pytest.raises(DeliveryError, match=r"certificate not trusted.*SMTP_CA_FILE"):
            send_report(report, WEEK, over_tls, TITLE, sleep=sleeps.append)
        assert sleeps == [] and server.mailbox.received == []
        # when the CA file is configured, then the report is delivered over TLS
        delivery = send_report(report, WEEK, replace(over_tls, ca_file=tls.ca_file), TITLE)
        assert delivery.sent == (LEAD, CFO)
        assert server.mailbox.message()["Subject"] == SUBJECT


def test_starttls_never_falls_back_to_plain_text(report: Path, smtp: Server) -> None:
    # given a server that does not offer STARTTLS; when the report is sent with starttls
    sleeps: list[float] = []
    with pytest.raises(DeliveryError, match="STARTTLS extension not supported"):
        send_report(
            report, WEEK, settings(smtp.port, security="starttls"), TITLE, sleep=sleeps.append
        )
    # then nothing is sent in clear text, and it is not retried
    assert sleeps == [] and smtp.mailbox.received == []


def test_a_wrong_password_is_not_retried(tls: Tls, report: Path) -> None:
    with serve(tls_context=tls.server, require_starttls=True, authenticator=check_login) as server:
        wrong = settings(
            server.port,
            security="starttls",
            ca_file=tls.ca_file,
            username="reporter",
            password="wrong",
        )
        sleeps: list[float] = []
        with pytest.raises(DeliveryError, match=r"535 "):
            send_report(report, WEEK, wrong, TITLE, sleep=sleeps.append)
        assert sleeps == [] and server.mailbox.received == []


# ---- settings -------------------------------------------------------------------------------


def test_settings_come_from_the_environment_first_and_the_password_only_from_it() -> None:
    # given a config file's email section and an environment that overrides part of it
    config = parse_config(
        {
            "email": {
                "smtp_host": "smtp.config.example",
                "smtp_port": 2525,
                "smtp_username": "config-user",
                "from": "Config <config@example.com>",
                "to": ["a@example.com"],
                "timeout_s": 12,
            }
        }
    ).email
    env = {
        "SMTP_HOST": "smtp.env.example",
        "SMTP_PASSWORD": "s3cret",
        "SMTP_SECURITY": "",  # empty, as CI passes a missing secret: unset
        "REPORT_TO": "Lead <lead@example.com>, cfo@example.com",
    }
    # when settings are resolved
    resolved = smtp_settings(config, env)
    # then each comes from the environment if set there, else from the config
    assert (resolved.host, resolved.port, resolved.security) == (
        "smtp.env.example",
        2525,
        "starttls",
    )
    assert (resolved.username, resolved.password) == ("config-user", "s3cret")
    assert str(resolved.sender) == "Config <config@example.com>"
    assert [r.addr_spec for r in resolved.recipients] == [LEAD, CFO]
    assert resolved.timeout_s == 12
    assert "s3cret" not in repr(resolved)
    # and the default port follows the security mode
    implicit = smtp_settings(parse_config({"email": {"smtp_security": "ssl"}}).email, GOOD_ENV)
    assert implicit.port == 465
    # and the config file cannot hold the password
    with pytest.raises(ConfigError, match=r"'email\.smtp_password'"):
        parse_config({"email": {"smtp_password": "s3cret"}})


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SMTP_HOST": ""}, "no SMTP server"),
        ({"SMTP_SECURITY": "none"}, "only to a relay on localhost"),
        ({"SMTP_SECURITY": "tls"}, "starttls, ssl or none"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT must be a port number"),
        ({"SMTP_USERNAME": "me"}, "both SMTP_USERNAME and SMTP_PASSWORD"),
        ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "does not exist"),
        ({"REPORT_FROM": ""}, "one sender"),
        ({"REPORT_TO": ""}, "no recipients"),
        ({"REPORT_TO": "lead@example.com\r\nBcc: evil@example.com"}, "line break"),
        ({"REPORT_TO": "lead at example.com"}, "not an email address"),
    ],
)
def test_invalid_settings_are_usage_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        smtp_settings(parse_config({}).email, {**GOOD_ENV, **env})


# ---- the command line -----------------------------------------------------------------------


def smtp_env(port: int, to: str) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_CA_FILE": "",
        "REPORT_FROM": "ml-reports@example.com",
        "REPORT_TO": to,
        "REPORT_URL": "",
    }


def test_send_command_exits_3_on_a_refused_recipient_then_sends_only_what_is_missing(
    report: Path, smtp: Server, tmp_path: Path
) -> None:
    env = smtp_env(smtp.port, f"{LEAD}, {NOBODY}")
    command = ("send", "--week", str(WEEK), "--out", "reports")
    # given a server refusing one recipient; when the report is sent
    smtp.mailbox.refuse[NOBODY] = "550 5.1.1 no such user"
    first = reporter(*command, cwd=tmp_path, env=env)
    # then it exits 3 with one line naming the refused address, the other got it
    assert_one_line_error(first, 3, NOBODY, "550 5.1.1 no such user", "sent to 1 other")
    assert [to for to, _ in smtp.mailbox.received] == [[LEAD]]
    # when the address is fixed on the server and the command runs again
    smtp.mailbox.refuse.clear()
    second = reporter(*command, cwd=tmp_path, env=env)
    # then only the missing recipient gets it
    assert second.returncode == 0, second.stderr
    assert f"emailed {WEEK} to {NOBODY}" in second.stderr
    # and a third run sends nothing
    third = reporter(*command, cwd=tmp_path, env=env)
    assert third.returncode == 0, third.stderr
    assert "already emailed" in third.stderr and "--force" in third.stderr
    assert [to for to, _ in smtp.mailbox.received] == [[LEAD], [NOBODY]]


def test_send_without_a_built_report_or_settings_is_a_usage_error(tmp_path: Path) -> None:
    env = smtp_env(free_port(), LEAD)
    missing = reporter("send", "--week", str(WEEK), cwd=tmp_path, env=env)
    assert_one_line_error(missing, 2, f"no report for {WEEK}", "reporter build")
    unset = reporter("send", "--week", str(WEEK), cwd=tmp_path, env={**env, "SMTP_HOST": ""})
    assert_one_line_error(unset, 2, "no SMTP server")


def test_build_email_with_bad_settings_fails_before_building(
    small_store: Store, tmp_path: Path
) -> None:
    result = reporter(
        "build",
        "--tracking-uri",
        small_store.uri,
        "--week",
        str(WEEK),
        "--email",
        cwd=tmp_path,
        env={**smtp_env(free_port(), LEAD), "SMTP_HOST": "smtp.example.com"},
    )
    assert_one_line_error(result, 2, "only to a relay on localhost")
    assert not (tmp_path / "reports").exists()
