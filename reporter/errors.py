"""One exception tree for the whole tool; the CLI turns it into one stderr line and an exit code."""

from __future__ import annotations


class ReporterError(Exception):
    """Base of every error the tool reports to its user. `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(ReporterError):
    """The user asked for something invalid: a bad flag, config key, week or missing store."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file is unreadable or a key in it is invalid."""


class GatherError(ReporterError):
    """MLflow could not be read (unreachable, refused, unexpected answer, unknown schema)."""


class RenderError(ReporterError):
    """Charts or templates could not be rendered (browser missing or hung, template error)."""


class ExportError(ReporterError):
    """The HTML, PDF or data files could not be produced or written."""


class DeliveryError(ReporterError):
    """The report was built and saved, but publishing it (e.g. email) failed."""

    exit_code = 3
