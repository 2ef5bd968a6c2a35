"""The demo's uplink relay and `tryggheim demo uplink`: a home's agent reaches a real HTTP server through the
relay while the uplink is up, is refused and cut off while it is down, and gets through again when it is up;
`tryggheim demo press` presses the home's Zigbee button on its real broker."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from common.ports import free_port
from edge.config import config_from
from tryggheim.commands.demo import app as demo_app
from tryggheim.demo import degraded
from tryggheim.demo.radio import BUTTON_PROFILE, button_name, devices, siren_name
from tryggheim.demo.uplink_relay import POLL_S, UplinkRelay, uplink_is_up


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection carries several requests

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


def _get(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/")
    return conn.getresponse().read()


def test_the_uplink_goes_down_and_up_on_command(tmp_path: Path) -> None:
    home = tmp_path / "edge" / "home-3"
    home.mkdir(parents=True)
    (home / "gateway.toml").write_text('gateway_id = "demo"\n')
    cloud = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hello)
    threading.Thread(target=cloud.serve_forever, daemon=True).start()
    relay = UplinkRelay(home, "127.0.0.1", cloud.server_address[1]).start()
    runner = CliRunner()
    try:
        carried = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=3)
        assert _get(carried) == b"hello"
        down = runner.invoke(demo_app, ["uplink", "--home", "3", "down", "--state-dir", str(tmp_path)])
        assert down.exit_code == 0, down.output
        assert "home-3" in down.output and not uplink_is_up(home)
        time.sleep(3 * POLL_S)  # the relay (in the demo's process) looks at the flag file this often
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            _get(carried)  # the open connection was cut
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            _get(http.client.HTTPConnection("127.0.0.1", relay.port, timeout=3))  # and a new one is refused
        up = runner.invoke(demo_app, ["uplink", "--home", "home-3", "up", "--state-dir", str(tmp_path)])
        assert up.exit_code == 0 and uplink_is_up(home)
        assert _get(http.client.HTTPConnection("127.0.0.1", relay.port, timeout=3)) == b"hello"
        unknown = runner.invoke(demo_app, ["uplink", "--home", "9", "down", "--state-dir", str(tmp_path)])
        assert unknown.exit_code == 2 and "home-3" in unknown.output
    finally:
        relay.stop()
        cloud.shutdown()
        cloud.server_close()


def test_the_demo_homes_degraded_mode_environment_configures_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, env = degraded.start(tmp_path, 3, free_port(), 18830, "http://127.0.0.1:4567/send")
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        (tmp_path / "credential").write_text("demo")
        config = config_from({"cloud_url": "http://127.0.0.1:1", "gateway_id": "g",
                              "credential_file": tmp_path / "credential", "outbox_path": tmp_path / "outbox.db",
                              "insecure_dev": True})  # fmt: skip
    finally:
        relay.stop()
    assert config.cloud_url == relay.url and config.alarm_overdue_s == degraded.OVERDUE_S
    local = config.local_alarm
    assert local.enabled and local.broker_port == 18830 and local.sirens == (siren_name(3),)
    assert local.sms.base_urls[1] == "http://127.0.0.1:4567" and local.sms.path == "/send"
    assert local.sms.recipients == (degraded.DUTY_PHONE,)


def test_press_publishes_the_bedside_button_on_the_homes_broker(tmp_path: Path, mqtt_broker_url: str) -> None:
    """`tryggheim demo press` finds the home's broker by the port its start recorded and publishes the button's
    Zigbee2MQTT message there, as the button would; a home without a broker is one clear line."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    url = urlsplit(mqtt_broker_url)
    seed = 40000 + free_port() % 10000  # a topic of this test alone on a shared broker
    home = tmp_path / "edge" / f"home-{seed}"
    (home / "mosquitto").mkdir(parents=True)
    (home / "gateway.toml").write_text('gateway_id = "demo"\n')
    runner = CliRunner()
    alone = runner.invoke(demo_app, ["press", "--home", str(seed), "--state-dir", str(tmp_path)])
    assert alone.exit_code == 2 and str(seed) in alone.output
    (home / "mosquitto" / "broker.port").write_text(str(url.port))
    heard: queue.Queue[dict[str, object]] = queue.Queue()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_message = lambda _c, _u, message: heard.put(json.loads(message.payload))
    listener.connect(url.hostname or "127.0.0.1", url.port or 1883)
    listener.subscribe(f"zigbee2mqtt/{button_name(seed)}", qos=1)
    listener.loop_start()
    try:
        time.sleep(0.5)  # the subscription is in place
        pressed = runner.invoke(demo_app, ["press", "--home", str(seed), "--state-dir", str(tmp_path)])
        assert pressed.exit_code == 0, pressed.output
        message = heard.get(timeout=10)
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert message["action"] == "single"
    # The catalogue reads that message as an alarm press of the demo kit's button profile.
    assert devices(seed)[button_name(seed)] == BUTTON_PROFILE
