"""The gateway's configuration: a TOML file written by `tryggheim edge enrol`, overridable by environment
variables (TRYGGHEIM_EDGE_*) for systemd drop-ins and tests. The credential itself lives in its own 0600
file; the config only names it.

The sections are plain dataclasses, so the long-running agent holds its configuration without importing pydantic
(about 10 MB resident on a small gateway): pydantic validates them in `config_from`, which the agent runs in a
short-lived child process (edge/run.py). Bounds are `annotated_types` markers and descriptions are attribute
docstrings, both of which pydantic reads; every section refuses a key it does not know, so a misspelt setting
stops the start with its name instead of being ignored."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, MaxLen

from device_profiles.constraints import FORBID_UNKNOWN_KEYS
from edge.environment import with_environment

if TYPE_CHECKING:
    from pydantic import TypeAdapter


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioConfig:
    """A scripted change in the simulated person from `start` (ISO) over `days` days (device_profiles.sim.scenarios):
    fluid retention (`weight_gain`, `kg_per_day`), moved vital signs (`vital_shift`: `pulse`, `spo2`, `systolic`)."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    kind: Literal["weight_gain", "vital_shift"]
    start: str
    days: Annotated[float, Gt(0)] = 3.0
    kg_per_day: float = 0.0
    pulse: float = 0.0
    spo2: float = 0.0
    systolic: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """The simulator source: a seeded virtual home whose clock runs `speed` times faster than real time."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    enabled: bool = False
    seed: int = 1
    start: str | None = None
    """ISO time the simulated home starts; default: now"""
    live_from: str | None = None
    """ISO time the clock runs at `speed` from; events before it are played at once (a history)"""
    scenarios: tuple[ScenarioConfig, ...] = ()
    """Scripted changes in the person"""
    speed: Annotated[float, Gt(0)] = 1.0
    limit: Annotated[int, Ge(0)] | None = None
    """Stop after this many events"""
    alarm_presses: tuple[str, ...] = ()
    """ISO times of scripted button presses"""
    garbage_at: tuple[str, ...] = ()
    """ISO times the scale sends unreadable bytes"""


@dataclass(frozen=True, slots=True, kw_only=True)
class BleConfig:
    """The BLE source: passive scanning, GATT sessions with health devices, the scanner watchdog."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    enabled: bool = False
    replay_script: Path | None = None
    """Replay scripted devices instead of a radio (tests and demo only)"""
    adapter: str | None = None
    """BlueZ adapter, e.g. hci0; default: the system's"""
    watchdog_s: Annotated[float, Gt(0)] = 300.0
    """Restart scanning after this long without adverts"""
    backoff_base_s: Annotated[float, Gt(0)] = 2.0
    backoff_max_s: Annotated[float, Gt(0)] = 120.0
    connect_cooldown_s: Annotated[float, Ge(0)] = 60.0
    """Pause between sessions with one device"""
    idle_s: Annotated[float, Gt(0)] = 3.0
    """End a session after this long without a measurement"""
    session_timeout_s: Annotated[float, Gt(0)] = 60.0
    connect_attempts: Annotated[int, Ge(1)] = 3
    bind_keys: Mapping[str, str] = field(default_factory=dict)
    """BTHome bind keys (hex) by address"""


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    """The MQTT source: the gateway's local broker (Mosquitto), persistent session, QoS 1."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Ge(1), Le(65535)] = 1883
    client_id: str | None = None
    """Default: tryggheim-<gateway id>"""
    session_expiry_s: Annotated[int, Ge(0)] = 7 * 86400
    """How long the broker keeps the session"""
    keepalive_s: Annotated[int, Ge(5)] = 30
    reconnect_max_s: Annotated[int, Ge(1)] = 60
    resubscribe_s: Annotated[float, Gt(0)] = 5.0
    """How often assignments are re-read"""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsRouteConfig:
    """The local alarm's SMS: a generic HTTP SMS gateway (JSON POST of the number, the text and a reference,
    the request shape of the cloud's SMS channel), reached over the routes in `base_urls`, tried in order."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    base_urls: tuple[str, ...] = ()
    """The SMS gateway's base URL per route, in the order to try (e.g. through the cellular interface second);
    empty: no SMS"""
    path: str = "/sms"
    """The send endpoint under each base URL"""
    recipients: tuple[str, ...] = ()
    """Numbers to text (E.164), e.g. the home care night team's phone"""
    credential_file: Path | None = None
    """Token sent as Authorization: Bearer"""
    text: Annotated[str, MaxLen(306)] = (
        "Trygghetsalarm {time}: skyen svarer ikke, alarmen er varslet lokalt i boligen. Ring brukeren."
    )
    """The message; {time} becomes the press time (Europe/Oslo). Never a name or a value."""
    timeout_s: Annotated[float, Gt(0)] = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalAlarmConfig:
    """Degraded mode: raise an alarm-class reading locally when the uplink has not delivered it within
    `alarm_overdue_s` (edge/local_alarm.py)."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    enabled: bool = False
    broker_host: str = "127.0.0.1"
    """The local broker Zigbee2MQTT listens on"""
    broker_port: Annotated[int, Ge(1), Le(65535)] = 1883
    base_topic: str = "zigbee2mqtt"
    """Zigbee2MQTT's base topic"""
    sirens: tuple[str, ...] = ()
    """Zigbee2MQTT friendly names of sirens"""
    lights: tuple[str, ...] = ()
    """Zigbee2MQTT friendly names of lights to turn on"""
    siren_duration_s: Annotated[int, Ge(1), Le(1800)] = 300
    """How long a siren sounds"""
    answer_s: Annotated[float, Gt(0)] = 5.0
    """How long to wait for Zigbee2MQTT's answer"""
    retry_s: Annotated[float, Gt(0)] = 30.0
    """Pause before a failed siren, light or SMS is retried"""
    max_attempts: Annotated[int, Ge(1), Le(50)] = 10
    """Attempts per siren, light or SMS route set"""
    sms: SmsRouteConfig = field(default_factory=SmsRouteConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Everything the agent reads at start-up (`config_from` validates it; the environment overrides the file)."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    cloud_url: str
    gateway_id: str
    credential_file: Path
    outbox_path: Path
    insecure_dev: bool = False
    """Allow http:// (development only)"""
    ca_file: Path | None = None
    """Extra CA bundle to trust (private PKI, tests)"""
    batch_max: Annotated[int, Ge(1), Le(5000)] = 500
    batch_age_s: Annotated[float, Gt(0)] = 5.0
    backoff_base_s: Annotated[float, Gt(0)] = 1.0
    backoff_max_s: Annotated[float, Gt(0)] = 300.0
    refusals_to_quarantine: Annotated[int, Ge(1), Le(100)] = 3
    """Quarantine a reading on the gateway after the cloud refused it alone this many times, each time after
    committing other readings (edge/isolation.py)"""
    request_timeout_s: Annotated[float, Gt(0)] = 30.0
    heartbeat_s: Annotated[float, Gt(0)] | None = None
    """Override the cloud's heartbeat interval"""
    outbox_max_mb: Annotated[float, Gt(0)] = 200.0
    outbox_max_age_days: Annotated[float, Gt(0)] = 30.0
    alarm_overdue_s: Annotated[float, Gt(0)] = 60.0
    alarm_retry_s: Annotated[float, Gt(0)] = 30.0
    """While an alarm-class reading waits, retry the uplink at least this often (social-alarm practice: every
    30-60 s), whatever the backoff has grown to"""
    malformed_forward_interval_s: Annotated[float, Ge(0)] = 600.0
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    ble: BleConfig = field(default_factory=BleConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    local_alarm: LocalAlarmConfig = field(default_factory=LocalAlarmConfig)

    def credential(self) -> str:
        """The bearer credential from its file."""
        return self.credential_file.read_text(encoding="utf-8").strip()


@cache
def _adapter() -> TypeAdapter[GatewayConfig]:
    from pydantic import TypeAdapter

    return TypeAdapter(GatewayConfig)


def config_from(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """The validated configuration from a file's `values`, overlaid with the TRYGGHEIM_EDGE_* variables of
    `environ` (default: this process's), which win so an operator can override one field; raises
    `pydantic.ValidationError` naming the field that is wrong."""
    merged = with_environment(dict(values), GatewayConfig, os.environ if environ is None else environ)
    return _adapter().validate_python(merged)


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the file and the first problem in it."""


def read_config(path: Path) -> GatewayConfig:
    """`load_config`, its failures as one `ConfigError` line each (what `tryggheim` prints before exit status 2)."""
    from pydantic import ValidationError

    try:
        return load_config(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (run `tryggheim edge enrol` first)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        # pydantic words a key a dataclass does not have as a call's argument; the installer wrote a setting.
        message = "unknown setting" if first["type"] == "unexpected_keyword_argument" else first["msg"]
        raise ConfigError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {message}") from exc


def load_config(path: Path) -> GatewayConfig:
    """Read the TOML file; relative paths in it are relative to the file's directory."""
    with path.open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    for key in ("credential_file", "outbox_path", "ca_file"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    ble = data.get("ble")
    script = ble.get("replay_script") if isinstance(ble, dict) else None
    if isinstance(ble, dict) and isinstance(script, str) and not Path(script).is_absolute():
        ble["replay_script"] = str(path.parent / script)
    sms = data.get("local_alarm", {}).get("sms") if isinstance(data.get("local_alarm"), dict) else None
    token = sms.get("credential_file") if isinstance(sms, dict) else None
    if isinstance(sms, dict) and isinstance(token, str) and not Path(token).is_absolute():
        sms["credential_file"] = str(path.parent / token)
    return config_from(data)


def toml_text(values: dict[str, Any]) -> str:
    """A flat TOML document for the values `enrol` writes (strings, booleans, numbers)."""
    lines = ["# Written by `tryggheim edge enrol`. The credential is in credential_file (mode 0600)."]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
    return "\n".join(lines) + "\n"
