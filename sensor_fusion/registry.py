"""A name -> builder registry, one per axis (architecture, backend), keyed by launch-parameter strings."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar('T')


class Registry(Generic[T]):
    """Maps the strings users type (``architecture:=nvsf_h``) to the classes that implement them.

    >>> colours = Registry('colour')
    >>> @colours.register('red')
    ... class Red: pass
    >>> colours.get('red') is Red
    True
    >>> colours.get('blue')
    Traceback (most recent call last):
    ...
    KeyError: "unknown colour 'blue'; known: red"
    """

    def __init__(self, axis: str):
        self.axis = axis
        self._entries: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            if key in self._entries:
                raise ValueError(f'{self.axis} {key!r} is registered twice')
            self._entries[key] = entry
            return entry
        return decorator

    def get(self, key: str) -> T:
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f'unknown {self.axis} {key!r}; known: {", ".join(self.keys())}') from None

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._entries.items()))

    def __contains__(self, key: object) -> bool:
        return key in self._entries
