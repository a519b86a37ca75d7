"""Plugins found by the name used as `type:` in sources.yaml (source types, channels).

Each kind of plugin has one Registry; a plugin class registers itself with a decorator, as
urlwatch's jobs and reporters do, and declares an `options` model for its own keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind                  # "source type", "channel type": used in messages
        self._types: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(cls: T) -> T:
            cls.type_name = name
            self._types[name] = cls
            return cls
        return decorate

    def __getitem__(self, name: str) -> T:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def names(self) -> list[str]:
        return sorted(self._types)
