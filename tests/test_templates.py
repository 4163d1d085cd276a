"""Templates, escaping and the PDF fetcher: what user-controlled MLflow text can and cannot do."""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import jinja2
import jinja2.meta
import pytest
from bs4 import BeautifulSoup

from reporter.config import parse_config
from reporter.errors import RenderError
from reporter.export.pdf import export_pdf
from reporter.gather import gather
from reporter.job import export_report
from reporter.render.context import CONTEXT_FIELDS
from reporter.render.html import environment, export_html
from tests.conftest import RATE_CARD, WEEK, Store, at

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(1)"
MODEL = "<img src=x onerror=alert(3)>"


def test_templates_use_only_the_documented_context() -> None:
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        source = env.loader.get_source(env, name)[0]
        used = jinja2.meta.find_undeclared_variables(env.parse(source))
        assert used <= CONTEXT_FIELDS, (
            f"{name} uses undocumented names {sorted(used - CONTEXT_FIELDS)}"
        )


def test_autoescaping_is_on_for_every_template_name() -> None:
    env = environment()
    assert env.autoescape is True  # not a function of the file suffix
    assert isinstance(env.undefined, type) and issubclass(env.undefined, jinja2.StrictUndefined)
    assert env.from_string("{{ x }}").render(x=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_no_template_turns_escaping_off() -> None:
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", text), path.name


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("hostile") / "mlflow.db"
    store = Store(path=path, client=MlflowClient(tracking_uri=f"sqlite:///{path}"))
    store.experiment(SCRIPT, team=IMG)
    tags = {"instance_type": "<b>bold</b>", "estimator_class": JS_LINK, "mlflow.user": "</script>"}
    store.run(SCRIPT, at(24, 9), at(24, 10), name="</script><script>alert(2)</script>", tags=tags)
    store.run(SCRIPT, at(17, 9), at(17, 10), name="ok", tags={"instance_type": "m5.xlarge"})
    store.client.create_registered_model(MODEL)  # MLflow refuses "/" and ":" in model names
    return store


@pytest.fixture(scope="module")
def hostile_files(hostile_store: Store) -> dict[str, bytes]:
    snapshot = gather(hostile_store.uri, WEEK, history_weeks=2)
    config = parse_config(
        {**RATE_CARD, "rate_card": {**RATE_CARD["rate_card"], "default_rate": 1.0}}
    )
    return export_report(snapshot, config)


def test_hostile_names_are_text_in_the_html(hostile_files) -> None:
    html = hostile_files["report.html"].decode()
    page = BeautifulSoup(html, "html.parser")
    # no script element, no image but the charts and sparklines, no link at all
    assert page.find("script") is None and page.find("a") is None
    assert all(img["src"].startswith("data:image/svg+xml;base64,") for img in page.find_all("img"))
    assert not any(tag.has_attr("onerror") for tag in page.find_all(True))
    text = page.get_text(" ")
    for name in (SCRIPT, IMG, "<b>bold</b>", JS_LINK, MODEL):
        assert name in text, name
    assert "<script>" not in html


def test_hostile_names_are_literal_in_chart_labels(hostile_files) -> None:
    import base64
    import xml.etree.ElementTree as ET

    page = BeautifulSoup(hostile_files["report.html"], "html.parser")
    texts = {}
    for fig in page.find_all("figure"):
        svg = ET.fromstring(base64.b64decode(fig.img["src"].split(",", 1)[1]))
        texts[fig["id"]] = [
            "".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")
        ]
    # plotly would have drawn <b>bold</b> in bold and dropped the tags: escaped, the labels
    # and legends carry the names literally
    assert "<b>bold</b>" in texts["cost-by-instance-type"]
    assert IMG in texts["cost-per-week"]  # the team, in the legend
    assert JS_LINK in texts["top-estimators"]


def test_hostile_names_are_in_the_pdf_text(hostile_files, tmp_path: Path) -> None:
    (tmp_path / "r.pdf").write_bytes(hostile_files["report.pdf"])
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert SCRIPT in text and "<b>bold</b>" in text


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Recorder.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_pdf_reads_no_file_and_makes_no_request(listener: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    html = f"""<html><head>
      <link rel="stylesheet" href="{listener}/style.css">
      <link rel="attachment" href="{secret.as_uri()}">
      <style>@import url("{listener}/import.css"); body {{ background: url("{secret.as_uri()}") }}</style>
      </head><body><p>visible</p>
      <img src="{secret.as_uri()}"><img src="{listener}/pixel.png"><img src="file:///etc/passwd">
      <object data="{secret.as_uri()}"></object><iframe src="{listener}/frame"></iframe>
      </body></html>"""
    pdf = export_pdf(html)
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    assert _Recorder.requests == []
    attachments = subprocess.run(
        ["pdfdetach", "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert attachments.strip().splitlines()[0] == "0 embedded files"
    assert b"TOP-SECRET-CONTENT" not in pdf
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "visible" in text and "root:" not in text


def test_a_template_typo_fails_the_build(hostile_files, tmp_path: Path) -> None:
    from reporter.render.context import ReportContext

    (tmp_path / "_summary.html").write_text("<p>{{ results.cots.total }}</p>")
    context = ReportContext(title="t", week="2026-W48", results=None, charts={}, alerts=[], top_n=3)  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="template error"):
        export_html(context, tmp_path)


def test_user_templates_override_one_partial(hostile_store: Store, tmp_path: Path) -> None:
    # given a folder overriding only the summary
    (tmp_path / "_summary.html").write_text(
        '<section id="summary"><h2>Our summary</h2><p>{{ results.cost.total | money(results.cost.currency) }}</p></section>\n'
    )
    snapshot = gather(hostile_store.uri, WEEK, history_weeks=2)
    files = export_report(snapshot, parse_config(RATE_CARD), templates=tmp_path)
    page = BeautifulSoup(files["report.html"], "html.parser")
    # then the override is used and every other section is the packaged one
    assert page.find(id="summary").h2.get_text() == "Our summary"
    assert page.find(id="costs") is not None and page.find(id="completeness") is not None
