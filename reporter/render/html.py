"""Jinja environment: autoescaped for every template, strict about undefined names, and
looking in the user's template folder before the packaged one."""

from __future__ import annotations

from dataclasses import fields
from importlib import resources
from pathlib import Path

import jinja2

from reporter.errors import RenderError, UsageError
from reporter.render.context import ReportContext
from reporter.render.format import FILTERS
from reporter.render.sparkline import sparkline_uri


def packaged_templates() -> Path:
    """`templates/` inside an installed wheel, or at the top of a source checkout."""
    installed = Path(str(resources.files("reporter"))) / "templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "templates"


def environment(user_templates: Path | None = None) -> jinja2.Environment:
    folders = [packaged_templates()]
    if user_templates is not None:
        if not user_templates.is_dir():
            raise UsageError(f"template folder {user_templates} does not exist")
        folders.insert(0, user_templates)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.filters["sparkline"] = sparkline_uri
    return env


def export_html(context: ReportContext, user_templates: Path | None = None) -> str:
    """The whole report as one self-contained HTML document."""
    env = environment(user_templates)
    namespace = {f.name: getattr(context, f.name) for f in fields(context)}
    try:
        return env.get_template("base.html").render(namespace)
    except jinja2.TemplateError as exc:
        where = (
            f" ({exc.filename}:{exc.lineno})" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
        )
        raise RenderError(f"template error{where}: {exc.message}") from None
