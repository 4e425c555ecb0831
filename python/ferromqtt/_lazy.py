"""Per-instance tables that paho builds in every constructor, made on first use instead.

paho's ``ReasonCode`` and ``Properties`` copy their lookup tables into each instance
(``rc.names``, ``props.names``, ``props.properties``, ``props.types``). Code may read or even
change those copies, so each instance still gets its own, but only when something touches
it: the client creates these objects for every acknowledgement, and almost nobody looks.
"""

from __future__ import annotations

from typing import Any, Callable


class CopiedOnFirstUse:
    """A non-data descriptor: the first read on an instance stores ``make()`` in the
    instance's ``__dict__`` (which then shadows the descriptor). Read on the class, it
    gives ``class_value``."""

    def __init__(self, make: Callable[[], Any], class_value: Any = None) -> None:
        self.make = make
        self.class_value = class_value
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self if self.class_value is None else self.class_value
        value = self.make()
        instance.__dict__[self.name] = value
        return value
