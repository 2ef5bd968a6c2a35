"""The gateway's configuration: a TOML file written by `tryggheim edge enrol`, overridable by environment
variables (TRYGGHEIM_EDGE_*) for systemd drop-ins and tests. The credential itself lives in its own 0600
file; the config only names it."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.environment import with_environment


class ScenarioConfig(BaseModel):
    """A scripted change in the simulated person from `start` (ISO) over `days` days (device_profiles.sim.scenarios):
    fluid retention (`weight_gain`, `kg_per_day`), moved vital signs (`vital_shift`: `pulse`, `spo2`, `systolic`)."""

    kind: Literal["weight_gain", "vital_shift"]
    start: str
    days: float = Field(default=3.0, gt=0)
    kg_per_day: float = 0.0
    pulse: float = 0.0
    spo2: float = 0.0
    systolic: float = 0.0


class SimulatorConfig(BaseModel):
    """The simulator source: a seeded virtual home whose clock runs `speed` times faster than real time."""

    enabled: bool = False
    seed: int = 1
    start: str | None = Field(default=None, description="ISO time the simulated home starts; default: now")
    live_from: str | None = Field(
        default=None,
        description="ISO time the clock runs at `speed` from; events before it are played at once (a history)",
    )
    scenarios: list[ScenarioConfig] = Field(default_factory=list, description="Scripted changes in the person")
    speed: float = Field(default=1.0, gt=0)
    limit: int | None = Field(default=None, ge=0, description="Stop after this many events")
    alarm_presses: list[str] = Field(default_factory=list, description="ISO times of scripted button presses")
    garbage_at: list[str] = Field(default_factory=list, description="ISO times the scale sends unreadable bytes")


class BleConfig(BaseModel):
    """The BLE source: passive scanning, GATT sessions with health devices, the scanner watchdog."""

    enabled: bool = False
    replay_script: Path | None = Field(
        default=None, description="Replay scripted devices instead of a radio (tests and demo only)"
    )
    adapter: str | None = Field(default=None, description="BlueZ adapter, e.g. hci0; default: the system's")
    watchdog_s: float = Field(default=300.0, gt=0, description="Restart scanning after this long without adverts")
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=120.0, gt=0)
    connect_cooldown_s: float = Field(default=60.0, ge=0, description="Pause between sessions with one device")
    idle_s: float = Field(default=3.0, gt=0, description="End a session after this long without a measurement")
    session_timeout_s: float = Field(default=60.0, gt=0)
    connect_attempts: int = Field(default=3, ge=1)
    bind_keys: dict[str, str] = Field(default_factory=dict, description="BTHome bind keys (hex) by address")


class MqttConfig(BaseModel):
    """The MQTT source: the gateway's local broker (Mosquitto), persistent session, QoS 1."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = Field(default=None, description="Default: tryggheim-<gateway id>")
    session_expiry_s: int = Field(default=7 * 86400, ge=0, description="How long the broker keeps the session")
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_max_s: int = Field(default=60, ge=1)
    resubscribe_s: float = Field(default=5.0, gt=0, description="How often assignments are re-read")


class SmsRouteConfig(BaseModel):
    """The local alarm's SMS: a generic HTTP SMS gateway (JSON POST of the number, the text and a reference,
    the request shape of the cloud's SMS channel), reached over the routes in `base_urls`, tried in order."""

    base_urls: list[str] = Field(
        default_factory=list,
        description="The SMS gateway's base URL per route, in the order to try (e.g. through the cellular "
        "interface second); empty: no SMS",
    )
    path: str = Field(default="/sms", description="The send endpoint under each base URL")
    recipients: list[str] = Field(default_factory=list, description="Numbers to text (E.164), e.g. the home "
                                  "care night team's phone")  # fmt: skip
    credential_file: Path | None = Field(default=None, description="Token sent as Authorization: Bearer")
    text: str = Field(
        default="Trygghetsalarm {time}: skyen svarer ikke, alarmen er varslet lokalt i boligen. Ring brukeren.",
        max_length=306,
        description="The message; {time} becomes the press time (Europe/Oslo). Never a name or a value.",
    )
    timeout_s: float = Field(default=10.0, gt=0)


class LocalAlarmConfig(BaseModel):
    """Degraded mode: raise an alarm-class reading locally when the uplink has not delivered it within
    `alarm_overdue_s` (edge/local_alarm.py)."""

    enabled: bool = False
    broker_host: str = Field(default="127.0.0.1", description="The local broker Zigbee2MQTT listens on")
    broker_port: int = Field(default=1883, ge=1, le=65535)
    base_topic: str = Field(default="zigbee2mqtt", description="Zigbee2MQTT's base topic")
    sirens: list[str] = Field(default_factory=list, description="Zigbee2MQTT friendly names of sirens")
    lights: list[str] = Field(default_factory=list, description="Zigbee2MQTT friendly names of lights to turn on")
    siren_duration_s: int = Field(default=300, ge=1, le=1800, description="How long a siren sounds")
    answer_s: float = Field(default=5.0, gt=0, description="How long to wait for Zigbee2MQTT's answer")
    retry_s: float = Field(default=30.0, gt=0, description="Pause before a failed siren, light or SMS is retried")
    max_attempts: int = Field(default=10, ge=1, le=50, description="Attempts per siren, light or SMS route set")
    sms: SmsRouteConfig = Field(default_factory=SmsRouteConfig)


class GatewayConfig(BaseModel):
    """Everything the agent reads at start-up; the environment (TRYGGHEIM_EDGE_*) overrides the values given."""

    model_config = ConfigDict(extra="forbid")

    cloud_url: str
    gateway_id: str
    credential_file: Path
    outbox_path: Path
    insecure_dev: bool = Field(default=False, description="Allow http:// (development only)")
    ca_file: Path | None = Field(default=None, description="Extra CA bundle to trust (private PKI, tests)")
    batch_max: int = Field(default=500, ge=1, le=5000)
    batch_age_s: float = Field(default=5.0, gt=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    refusals_to_quarantine: int = Field(
        default=3, ge=1, le=100,
        description="Quarantine a reading on the gateway after the cloud refused it alone this many times, each "
        "time after committing other readings (edge/isolation.py)",
    )  # fmt: skip
    request_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0, description="Override the cloud's heartbeat interval")
    outbox_max_mb: float = Field(default=200.0, gt=0)
    outbox_max_age_days: float = Field(default=30.0, gt=0)
    alarm_overdue_s: float = Field(default=60.0, gt=0)
    alarm_retry_s: float = Field(
        default=30.0, gt=0,
        description="While an alarm-class reading waits, retry the uplink at least this often (social-alarm "
        "practice: every 30-60 s), whatever the backoff has grown to",
    )  # fmt: skip
    malformed_forward_interval_s: float = Field(default=600.0, ge=0)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    ble: BleConfig = Field(default_factory=BleConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    local_alarm: LocalAlarmConfig = Field(default_factory=LocalAlarmConfig)

    def __init__(self, **values: Any) -> None:
        # The environment wins over the file (passed as values), so an operator can override one field.
        super().__init__(**with_environment(values, type(self), os.environ))

    def credential(self) -> str:
        """The bearer credential from its file."""
        return self.credential_file.read_text(encoding="utf-8").strip()


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
    return GatewayConfig(**data)


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
