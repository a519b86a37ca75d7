"""Source types, registered by the name used as `type:` in sources.yaml.

To add one, subclass SourceType (monitor/sources/base.py) in a module here, decorate it with
@register("name"), give it an `options` model (a subclass of SourceConfig) if it has keys of its
own, and import the module below.
"""

from monitor.sources import page, rss, sitemap, telegram  # noqa: F401  (each registers its type)
from monitor.sources.base import (SOURCE_TYPES, Fetched, SourceConfig, SourceError, SourceType, fetch_source,
                                  reads_articles, register, source_type, source_types)

__all__ = ["SOURCE_TYPES", "Fetched", "SourceConfig", "SourceError", "SourceType", "fetch_source", "reads_articles",
           "register", "source_type", "source_types"]
