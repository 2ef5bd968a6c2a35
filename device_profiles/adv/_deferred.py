"""The parser libraries imported without the parts a gateway hearing plain advertisements never runs.

bthome-ble, xiaomi-ble and bluetooth-data-tools import `cryptography` at module level (AES-CCM for encrypted
adverts, AES for resolving private addresses), xiaomi-ble also pycryptodome (legacy encrypted frames), and
`from habluetooth import ...` runs habluetooth's whole package (its scanner manager) for the one data class
they use. Together that is about 11 MB of a gateway's memory (docs/benchmarks.md, the edge section), needed
only when a device encrypts.

While a parser library is imported, `sys.modules` holds stand-ins: for the encryption modules, objects that
import the real library when first called or looked into and then put the real objects in place of every
stand-in the libraries hold (`load_encryption`); for habluetooth, its package with only its `models` module.
The stand-ins leave `sys.modules` afterwards, so any later import gets the real packages. bleak-retry-connector,
which habluetooth's models and the GATT session import, comes with one module of bluetooth-adapters instead of
that package (`retry_connector`). Why rebinding and
not a lazy module: `from X import Y` reads Y at import, which would load a lazy module at once, and an
`except InvalidTag:` clause reads its name when an exception passes, so the library's own global must be the
real class by the time the real cipher can raise; constructing the cipher (the stand-in's call) is that time.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import ClassVar, Final, cast

# The encryption names the libraries import, by module (bthome-ble and xiaomi-ble: AESCCM and InvalidTag;
# bluetooth-data-tools' private-address resolver: Cipher, algorithms, modes; xiaomi-ble's legacy MiBeacon
# decryption: pycryptodome's AES).
_ENCRYPTION: Final = {
    "cryptography.exceptions": ("InvalidTag",),
    "cryptography.hazmat.primitives.ciphers": ("Cipher", "algorithms", "modes"),
    "cryptography.hazmat.primitives.ciphers.aead": ("AESCCM",),
    "Cryptodome.Cipher": ("AES",),
}
_EXCEPTIONS: Final = frozenset({"InvalidTag"})
_HABLUETOOTH_NAMES: Final = ("BluetoothServiceInfo", "BluetoothServiceInfoBleak")

# Library modules that hold stand-ins, until the real libraries replace them.
_holders: list[ModuleType] = []


class DeferredError(Exception):
    """Base of the stand-ins for cryptography's exception classes. Never raised: nothing can raise the real
    exception before the real library is loaded, and loading it replaces the stand-in everywhere."""

    origin: ClassVar[tuple[str, str]] = ("", "")


class Deferred:
    """Stands for one encryption object in a library module until it is first called or looked into."""

    __slots__ = ("origin",)

    def __init__(self, module: str, name: str) -> None:
        self.origin = (module, name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        real = cast("Callable[..., object]", _real(self.origin))  # a class or a function, by the table above
        return real(*args, **kwargs)

    def __getattr__(self, attr: str) -> object:
        return getattr(_real(self.origin), attr)


def _real(origin: tuple[str, str]) -> object:
    load_encryption()
    return _resolve(origin)


def _resolve(origin: tuple[str, str]) -> object:
    """What `from module import name` gives: an attribute, or a submodule (pycryptodome's `Cipher.AES`)."""
    module, name = origin
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        return importlib.import_module(f"{module}.{name}")


def _origin(value: object) -> tuple[str, str] | None:
    if isinstance(value, Deferred):
        return value.origin
    if isinstance(value, type) and issubclass(value, DeferredError) and value is not DeferredError:
        return value.origin
    return None


def load_encryption() -> None:
    """Import the encryption libraries and put their objects in place of every stand-in a library holds (once;
    then a no-op)."""
    while _holders:
        holder = _holders.pop()
        for attr, value in list(vars(holder).items()):
            origin = _origin(value)
            if origin is not None:
                setattr(holder, attr, _resolve(origin))


def _stand_in(module: str, names: tuple[str, ...]) -> ModuleType:
    stand_in = ModuleType(module, "Stands in while a parser library is imported (device_profiles.adv._deferred).")
    for name in names:
        if name in _EXCEPTIONS:
            value: object = type(name, (DeferredError,), {"origin": (module, name), "__module__": module})
        else:
            value = Deferred(module, name)
        setattr(stand_in, name, value)
    return stand_in


def retry_connector() -> ModuleType:
    """bleak-retry-connector, imported with bluetooth-adapters' `history` module in place of that whole package.

    On Linux its package imports one function of bluetooth-adapters (`load_history_from_managed_objects`, used
    to restore a scanner's discoveries, which the agent never asks for), and bluetooth-adapters' `__init__`
    loads all it has (adapter discovery over HCI sockets with ctypes, its MAC-vendor table reader, its storage):
    about 0.5 MB a gateway keeps. A bare package holding the real `history` module stands in while
    bleak-retry-connector is imported, then leaves `sys.modules`, so a later `import bluetooth_adapters` runs the
    package as usual. A version wanting more of bluetooth-adapters gets the whole package, as before."""
    if "bleak_retry_connector" in sys.modules or "bluetooth_adapters" in sys.modules:
        return importlib.import_module("bleak_retry_connector")
    spec = importlib.util.find_spec("bluetooth_adapters")
    if spec is None:  # not a dependency here (bleak-retry-connector off Linux): nothing to stand in for
        return importlib.import_module("bleak_retry_connector")
    bare = sys.modules["bluetooth_adapters"] = importlib.util.module_from_spec(spec)
    try:
        history = importlib.import_module("bluetooth_adapters.history")
        bare.load_history_from_managed_objects = history.load_history_from_managed_objects  # type: ignore[attr-defined]
        return importlib.import_module("bleak_retry_connector")
    except ImportError:
        pass
    finally:
        for name in [m for m in sys.modules if m == "bluetooth_adapters" or m.startswith("bluetooth_adapters.")]:
            del sys.modules[name]
    return importlib.import_module("bleak_retry_connector")


def _habluetooth_models() -> ModuleType:
    """`habluetooth.models` (the service-info data classes) without running habluetooth's package; the module
    stays in `sys.modules`, so a later `import habluetooth` shares its classes. It imports bleak-retry-connector
    (for one constant), which comes from `retry_connector`."""
    if "habluetooth" in sys.modules:
        return importlib.import_module("habluetooth.models")
    retry_connector()
    spec = importlib.util.find_spec("habluetooth")
    if spec is None:
        raise ModuleNotFoundError("habluetooth", name="habluetooth")
    sys.modules["habluetooth"] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module("habluetooth.models")
    finally:
        del sys.modules["habluetooth"]


def service_info_class() -> type:
    """habluetooth's `BluetoothServiceInfoBleak`, the envelope the parser libraries read."""
    cls: type = _habluetooth_models().BluetoothServiceInfoBleak
    return cls


def import_parser(package: str, submodule: str, *, alone: bool = False) -> ModuleType:
    """`package.submodule` imported with the stand-ins above in `sys.modules` (none for a package something has
    already imported for real). `alone`: without running `package/__init__.py` either (`submodule_alone`)."""
    from device_profiles.adv._envelope import submodule_alone

    stand_ins: dict[str, ModuleType] = {}
    for module, names in _ENCRYPTION.items():
        if module.split(".")[0] not in sys.modules:
            stand_ins[module] = _stand_in(module, names)
    if "habluetooth" not in sys.modules:
        models = _habluetooth_models()
        stand_ins["habluetooth"] = _stand_in("habluetooth", ())
        for name in _HABLUETOOTH_NAMES:
            setattr(stand_ins["habluetooth"], name, getattr(models, name))
    before = set(sys.modules)
    sys.modules |= stand_ins
    try:
        loaded = submodule_alone(package, submodule) if alone else importlib.import_module(f"{package}.{submodule}")
        new = [sys.modules[name] for name in set(sys.modules) - before - set(stand_ins)]
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
    _holders.extend(m for m in [*new, loaded] if any(_origin(v) is not None for v in vars(m).values()))
    return loaded
