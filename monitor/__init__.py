"""monitor: news monitoring for reports on Ukrainian children deported by Russia."""

__version__ = "0.1.0"
