"""The topics shipped with the package, by file name: known without compiling them (the
configuration's check needs their names only, and loads none of the matcher)."""

DEFAULT_TOPIC_FILES = ("deported-children.topic",)


def default_topic_names() -> list[str]:
    """The names of the shipped topics."""
    return [f.removesuffix(".topic") for f in DEFAULT_TOPIC_FILES]
