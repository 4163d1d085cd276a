"""reporter: a weekly ML cost, activity and deployment report built from an MLflow server."""

__version__ = "0.1.0"
