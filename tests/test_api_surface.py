"""Every public name of paho-mqtt 2.2 exists in ferromqtt's module of the same name, alike.

For each paho module: each public name must exist in the ferromqtt module; functions, methods
and classes must have the same signature (parameter names, order, kinds and defaults); classes
the same public members (same kind: method, property, static/class method, attribute) and
enums the same members; constants the same value; and where paho re-exports one object under
several modules (``client.ReasonCode is reasoncodes.ReasonCode``) ferromqtt must too.
Extra names in ferromqtt are allowed.
"""

import __future__

import collections.abc
import enum
import functools
import importlib
import inspect
import types
import typing

import pytest

PAHO_MODULES = [
    "paho.mqtt",
    "paho.mqtt.client",
    "paho.mqtt.enums",
    "paho.mqtt.properties",
    "paho.mqtt.packettypes",
    "paho.mqtt.reasoncodes",
    "paho.mqtt.subscribeoptions",
    "paho.mqtt.matcher",
    "paho.mqtt.publish",
    "paho.mqtt.subscribe",
    "paho.mqtt.exception",
]
NOT_BUILT = {}
# Values that are ferromqtt's own by design.
OWN_VALUES = {("paho.mqtt", "__version__")}
# Dunders a class defines for Python's machinery, not as API.
MACHINERY = {
    "__module__",
    "__doc__",
    "__dict__",
    "__weakref__",
    "__slots__",
    "__annotations__",
    "__qualname__",
    "__orig_bases__",
    "__parameters__",
    "__match_args__",
    "__getnewargs__",
    "__new__",
    "__firstlineno__",
    "__static_attributes__",
    "_field_defaults",
    "_fields",
}
_STDLIB_NAMESPACES = [vars(typing), vars(types), vars(collections.abc), vars(functools)]
_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.WrapperDescriptorType)
_ALIAS_MODULES = {"typing", "types", "collections.abc", "_collections_abc"}


def ferro_name(paho_module_name):
    return "ferromqtt" + paho_module_name[len("paho.mqtt") :]


def public_names(module):
    """paho's public names: not private, not modules, not names imported from the stdlib."""
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") and name != "__version__":
            continue
        if isinstance(obj, (types.ModuleType, __future__._Feature)):
            continue
        if any(namespace.get(name, object()) is obj for namespace in _STDLIB_NAMESPACES):
            continue
        defined_in = getattr(obj, "__module__", None) or ""
        is_code = isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType))
        if is_code and not defined_in.startswith("paho") and getattr(obj, "__name__", "") == name:
            continue  # e.g. "from typing import NamedTuple"
        names.append(name)
    return names


def is_type_alias(obj):
    return not isinstance(obj, type) and type(obj).__module__ in _ALIAS_MODULES


def comparable_default(value):
    if value is inspect.Parameter.empty:
        return "<no default>"
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name, value.value)
    if isinstance(value, (int, float, str, bytes, bool, type(None), tuple)):
        return value
    return type(value).__name__


def signature(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "<no signature>"
    return [(p.name, p.kind.name, comparable_default(p.default)) for p in sig.parameters.values()]


def comparable_value(value):
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name, value.value)
    if isinstance(value, dict):
        return sorted((comparable_value(k), comparable_value(v)) for k, v in value.items())
    if isinstance(value, (int, float, str, bytes, bool, type(None))):
        return (type(value).__name__, value)
    if isinstance(value, tuple):
        return tuple(comparable_value(item) for item in value)
    if isinstance(value, range):
        return ("range", value.start, value.stop, value.step)
    return type(value).__name__


def member_kind(cls, name):
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, classmethod):
        return "classmethod"
    if isinstance(raw, property):
        return "property"
    if isinstance(raw, _FUNCTION_TYPES):
        return "method"
    if isinstance(raw, type):
        return "class"
    if raw is None:
        return "None"
    return "attribute"


def paho_members(cls):
    """Names paho's class itself defines (not inherited from builtins or the stdlib)."""
    names = []
    for klass in cls.__mro__:
        if not (klass.__module__ or "").startswith("paho"):
            continue
        for name in vars(klass):
            if name in MACHINERY or name in names:
                continue
            if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                continue
            names.append(name)
    return names


def compare_class(path, paho_cls, ferro_cls, problems):
    if not isinstance(ferro_cls, type):
        problems.append(f"{path}: paho has a class, ferromqtt has {type(ferro_cls).__name__}")
        return
    if issubclass(paho_cls, enum.Enum):
        paho_members_list = [(m.name, m.value) for m in paho_cls]
        if not issubclass(ferro_cls, enum.Enum):
            problems.append(f"{path}: not an Enum")
        elif [(m.name, m.value) for m in ferro_cls] != paho_members_list:
            problems.append(f"{path}: enum members differ")
        for base in (enum.IntEnum, enum.Enum):
            if issubclass(paho_cls, base) != issubclass(ferro_cls, base):
                problems.append(f"{path}: {base.__name__} base differs")
        return
    for base in (BaseException, tuple, dict, int):
        if issubclass(paho_cls, base) != issubclass(ferro_cls, base):
            problems.append(f"{path}: {base.__name__} base differs")
    if hasattr(paho_cls, "_fields") and getattr(ferro_cls, "_fields", None) != paho_cls._fields:
        problems.append(f"{path}: NamedTuple fields differ")
    if signature(ferro_cls) != signature(paho_cls):
        problems.append(f"{path}(): signature {signature(ferro_cls)} != paho {signature(paho_cls)}")
    for name in paho_members(paho_cls):
        member_path = f"{path}.{name}"
        try:
            inspect.getattr_static(ferro_cls, name)
        except AttributeError:
            problems.append(f"{member_path}: missing")
            continue
        paho_kind, ferro_kind = member_kind(paho_cls, name), member_kind(ferro_cls, name)
        if paho_kind != ferro_kind:
            problems.append(f"{member_path}: is a {ferro_kind}, paho has a {paho_kind}")
            continue
        paho_member, ferro_member = getattr(paho_cls, name), getattr(ferro_cls, name)
        if paho_kind in ("method", "staticmethod", "classmethod"):
            if signature(ferro_member) != signature(paho_member):
                problems.append(
                    f"{member_path}: signature {signature(ferro_member)} "
                    f"!= paho {signature(paho_member)}"
                )
        elif paho_kind == "class":
            compare_class(member_path, paho_member, ferro_member, problems)
        elif paho_kind == "property":
            paho_raw = inspect.getattr_static(paho_cls, name)
            ferro_raw = inspect.getattr_static(ferro_cls, name)
            if (paho_raw.fset is None) != (ferro_raw.fset is None):
                problems.append(f"{member_path}: settable differs from paho")
        elif paho_kind == "attribute" and not is_type_alias(paho_member):
            if comparable_value(ferro_member) != comparable_value(paho_member):
                problems.append(f"{member_path}: value {ferro_member!r} != paho {paho_member!r}")


def surface_problems(paho_module_name):
    paho_module = importlib.import_module(paho_module_name)
    ferro_module_name = ferro_name(paho_module_name)
    try:
        ferro_module = importlib.import_module(ferro_module_name)
    except ImportError as error:
        return [f"{ferro_module_name}: cannot import ({error})"]
    problems = []
    for name in public_names(paho_module):
        path = f"{ferro_module_name}.{name}"
        if not hasattr(ferro_module, name):
            problems.append(f"{path}: missing")
            continue
        paho_obj, ferro_obj = getattr(paho_module, name), getattr(ferro_module, name)
        if (paho_module_name, name) in OWN_VALUES or is_type_alias(paho_obj):
            continue
        if isinstance(paho_obj, type):
            compare_class(path, paho_obj, ferro_obj, problems)
        elif callable(paho_obj):
            if not callable(ferro_obj):
                problems.append(f"{path}: not callable")
            elif signature(ferro_obj) != signature(paho_obj):
                problems.append(
                    f"{path}: signature {signature(ferro_obj)} != paho {signature(paho_obj)}"
                )
        elif comparable_value(ferro_obj) != comparable_value(paho_obj):
            problems.append(f"{path}: value {ferro_obj!r} != paho {paho_obj!r}")
        problems.extend(reexport_problems(paho_module_name, name, paho_obj, ferro_obj))
    return problems


def reexport_problems(paho_module_name, name, paho_obj, ferro_obj):
    """Where paho shares one object between modules, ferromqtt must share it too."""
    if not isinstance(paho_obj, type) and not callable(paho_obj):
        return []
    problems = []
    for other_name in PAHO_MODULES:
        if other_name == paho_module_name:
            continue
        other = importlib.import_module(other_name)
        if getattr(other, name, None) is not paho_obj:
            continue
        try:
            ferro_other = importlib.import_module(ferro_name(other_name))
        except ImportError:
            continue  # reported by that module's own test
        if getattr(ferro_other, name, None) is not ferro_obj:
            problems.append(
                f"{ferro_name(paho_module_name)}.{name} is not {ferro_name(other_name)}.{name}"
            )
    return problems


def _module_params():
    for name in PAHO_MODULES:
        marks = []
        if name in NOT_BUILT:
            marks.append(pytest.mark.xfail(strict=True, reason=NOT_BUILT[name]))
        yield pytest.param(name, marks=marks, id=ferro_name(name))


@pytest.mark.parametrize("paho_module_name", list(_module_params()))
def test_module_has_paho_public_api(paho_module_name):
    problems = surface_problems(paho_module_name)
    assert not problems, "\n".join(problems)


def test_the_checker_finds_differences():
    """The comparison is not vacuous: it reports a changed signature and a missing member."""

    class Paho:
        __module__ = "paho.mqtt.fake"

        def method(self, a, b=1):
            pass

        @property
        def value(self):
            return 1

    class Ferro:
        def method(self, a, b=2):
            pass

    problems = []
    compare_class("Fake", Paho, Ferro, problems)
    assert any("method: signature" in problem for problem in problems)
    assert "Fake.value: missing" in problems
    assert len(public_names(importlib.import_module("paho.mqtt.client"))) > 100


def test_star_import_of_the_client_gives_what_paho_gives():
    """``from paho.mqtt.client import *`` (paho has no ``__all__``) brings every public name
    but the modules it imports and its typing helpers; ferromqtt's ``__all__`` lists them
    all, and each one exists."""
    import paho.mqtt.client as paho_client

    import ferromqtt.client as ferro_client

    typing_helpers = {"Any", "Callable", "Iterator", "Literal", "NamedTuple", "Sequence"}
    typing_helpers |= {"TYPE_CHECKING", "Union", "cast", "overload", "annotations", "socks"}
    paho_names = {
        name
        for name in dir(paho_client)
        if not name.startswith("_")
        and not isinstance(getattr(paho_client, name), types.ModuleType)
        and name not in typing_helpers
    }
    assert paho_names - set(ferro_client.__all__) == set()
    assert [name for name in ferro_client.__all__ if not hasattr(ferro_client, name)] == []
    namespace: dict = {}
    exec("from ferromqtt.client import *", namespace)
    assert {"Client", "MQTT_ERR_SUCCESS", "MQTTv5", "CallbackAPIVersion"} <= set(namespace)
