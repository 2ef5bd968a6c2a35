"""The MQTT source: Zigbee2MQTT-style sensors through the gateway's local broker (paho-mqtt 2.x, MQTT 5).

* Persistent session: a fixed client id, `clean_start=False` and a session expiry interval, so the broker
  keeps the subscriptions and queues QoS 1 messages while the agent is stopped (upgrade, crash, reboot) and
  delivers them when it comes back. QoS 0 messages are NOT queued for an offline client unless the broker
  sets `queue_qos0_messages true` (the shipped deploy/gateway/mosquitto.conf does); Zigbee2MQTT publishes
  with QoS 0 by default, so that setting is what keeps a door event published during a restart.
* QoS 1 subscriptions, one per served device: the catalogue entry's topic pattern with the device address
  as its `+` level (`zigbee2mqtt/hall-door`). Assignments are re-read every `resubscribe_s`.
* Acknowledged after the outbox commit (`manual_ack`): a message is PUBACKed only once its readings are
  durable, so a crash in between makes the broker deliver it again rather than lose it.
* Exactly once across that crash: a message without a device time (a Zigbee event) is stamped with its
  receipt time, so a second delivery would be a second reading the cloud cannot tell from the first. The
  transaction that stores a QoS 1 message's readings also stores its delivery (`Outbox.append(delivery=)`):
  client id, packet id and a digest of topic and payload. A broker resends an unacknowledged message with the
  DUP flag and its original packet id, in the same session however much later (MQTT 5.0, 4.4), and reuses a
  packet id only after the acknowledgement; so a DUP message whose packet id holds the same digest is the
  one already stored: acknowledged, not stored again (`mqtt_redelivered`). A new session (session present:
  false) forgets the deliveries, since nothing of the old one is resent and packet ids start over. Memory is
  bounded by the 65,535 packet ids per client, and deliveries older than the outbox's age bound are dropped.
  An acknowledgement is only sent on the connection that delivered the message: after a reconnect the
  broker resends it, and the resent copy is acknowledged. What remains: a DUP whose first sending never
  reached the agent and whose topic and payload equal those of the message that last used its packet id
  (with Mosquitto, 65,535 messages earlier in the same session) is taken for a repeat.
* paho's network thread reconnects by itself (`connect_async` + `loop_start`, capped backoff); its
  callbacks only hand messages to the event loop, where the outbox lives.
* A payload that is not a JSON object, or one whose fields all fail the device's mapping, is garbage: it is
  counted and forwarded to the cloud's quarantine through the sink, and the source carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from device_profiles import DecodeError
from device_profiles.device_catalogue import DeviceEntry, load_devices
from device_profiles.matching import topic_for
from device_profiles.mqtt_mapping import map_payload
from edge.config import MqttConfig
from edge.outbox import Delivery
from edge.sink import Sink
from edge.waits import unless_stopped

log = logging.getLogger("tryggheim.edge.mqtt")
# For tests only: `kill-after-commit` makes the agent SIGKILL itself after a message's readings are committed
# and before the broker's acknowledgement (tests/edge/test_mqtt_exactly_once.py). Read once; any other value,
# or none, does nothing.
FAULT = os.environ.get("TRYGGHEIM_EDGE_FAULT", "")


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    connection: int  # which connection delivered it: an acknowledgement only goes back on that one

    def delivery(self, client_id: str) -> Delivery | None:
        """The delivery to store with the readings; None for QoS 0 (never resent, no packet id)."""
        if self.qos == 0:
            return None
        digest = hashlib.sha256(self.topic.encode() + b"\0" + self.payload).hexdigest()[:32]
        return Delivery(client_id, self.mid, digest)


class MqttSource:
    """Subscribes to the served devices' topics and turns their messages into observations."""

    def __init__(self, config: MqttConfig, sink: Sink, served: Callable[[], Mapping[str, str]],
                 client_id: str) -> None:  # fmt: skip
        self.config = config
        self.sink = sink
        self.served = served
        self.client_id = config.client_id or client_id
        self.catalogue = load_devices()
        self.connected = asyncio.Event()
        self._queue: asyncio.Queue[_Message] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed: set[str] = set()
        self._routes: dict[str, tuple[str, DeviceEntry]] = {}
        self._connection = 0  # counted in paho's thread, where messages are tagged with it

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)  # fmt: skip
        client.reconnect_delay_set(1, self.config.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (retrying in the background), consume messages until `stop`, then disconnect."""
        self._loop = asyncio.get_running_loop()
        self._refresh_routes()
        client = self._client()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.session_expiry_s
        client.connect_async(self.config.host, self.config.port, self.config.keepalive_s, clean_start=False,
                             properties=properties)  # fmt: skip
        client.loop_start()
        try:
            while not stop.is_set():
                # A quiet broker must not hold up the agent's stop for a whole re-subscribe period.
                message = await unless_stopped(self._queue.get(), stop, self.config.resubscribe_s)
                if message is None:
                    self._refresh_routes()
                    if self.connected.is_set():
                        self._subscribe(client)
                    continue
                if self._handle(message) and FAULT == "kill-after-commit":
                    os.kill(os.getpid(), signal.SIGKILL)
                if message.connection == self._connection:
                    client.ack(message.mid, message.qos)
        finally:
            client.disconnect()
            client.loop_stop()

    # --- paho's network thread: hand over to the event loop, nothing else -------------------------------

    def _on_connect(self, client: mqtt.Client, _: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    __: Any) -> None:  # fmt: skip
        if reason.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        log.info("MQTT connected (session present: %s)", flags.session_present)
        self._connection += 1
        self._call(self.sink.outbox.event, "mqtt_connected", f"session present: {flags.session_present}")
        if not flags.session_present:
            self._call(self.sink.outbox.forget_deliveries, self.client_id)
        self._call(self._resubscribe, client)

    def _on_disconnect(self, _: mqtt.Client, __: Any, ___: mqtt.DisconnectFlags, reason: ReasonCode,
                       ____: Any) -> None:  # fmt: skip
        log.warning("MQTT disconnected (%s); paho reconnects by itself", reason)
        self._call(self.connected.clear)
        self._call(self.sink.outbox.count, "mqtt_disconnects")

    def _on_subscribe(self, _: mqtt.Client, __: Any, mid: int, reasons: list[ReasonCode], ___: Any) -> None:
        granted = ", ".join(str(r) for r in reasons)
        self._call(self.sink.outbox.event, "mqtt_subscribed", f"subscription {mid} acknowledged: {granted}")

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        received = _Message(message.topic, bytes(message.payload), message.mid, message.qos, bool(message.dup),
                            self._connection)  # fmt: skip
        self._call(self._queue.put_nowait, received)

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed while paho's thread was still running
                self._loop.call_soon_threadsafe(function, *args)

    # --- subscriptions ---------------------------------------------------------------------------------

    def _refresh_routes(self) -> None:
        routes: dict[str, tuple[str, DeviceEntry]] = {}
        for address, profile in self.served().items():
            entry = self.catalogue.entries.get(profile)
            if entry is None or entry.transport != "mqtt":
                continue
            try:
                routes[topic_for(entry, address)] = (address, entry)
            except ValueError as exc:
                log.warning("device %s cannot be subscribed: %s", address, exc)
        self._routes = routes

    def _resubscribe(self, client: mqtt.Client) -> None:
        self._subscribed.clear()  # subscribe again: cheap, and right if the broker lost the session
        self._subscribe(client)
        self.connected.set()

    def _subscribe(self, client: mqtt.Client) -> None:
        wanted = set(self._routes)
        new, gone = sorted(wanted - self._subscribed), sorted(self._subscribed - wanted)
        if new:
            client.subscribe([(topic, 1) for topic in new])
        if gone:
            client.unsubscribe(gone)
        self._subscribed = wanted

    # --- messages ------------------------------------------------------------------------------------------

    def _handle(self, message: _Message) -> bool:
        """Store the message's readings (or count it as garbage); True when something was committed."""
        route = self._routes.get(message.topic)
        if route is None:
            self.sink.outbox.count("mqtt_unrouted")
            return False
        address, entry = route
        assert entry.mapping is not None  # an mqtt entry always has one (catalogue schema)
        delivery = message.delivery(self.client_id)
        if message.dup and delivery and self.sink.outbox.delivered(delivery.client, delivery.mid) == delivery.digest:
            self.sink.outbox.count("mqtt_redelivered")
            return False
        self.sink.outbox.count("mqtt_messages")
        try:
            decoded = map_payload(entry.mapping, message.payload, device_id=address, received_at=datetime.now(UTC))
        except DecodeError as exc:
            self.sink.malformed(address, message.payload, str(exc), delivery=delivery)
            return True
        failed = decoded.context.get("not_readings")
        if not decoded.observations and failed:
            self.sink.malformed(address, message.payload, f"mqtt json: no field could be read: {failed}",
                                delivery=delivery)  # fmt: skip
            return True
        self.sink.heard(address, link_quality=decoded.context.get("linkquality"))
        self.sink.observations(decoded.observations, delivery=delivery)
        return True
