"""Degraded mode in a demo home: what its agent needs so that `tryggheim demo uplink --home <home> down` shows
the local alarm path (edge/local_alarm.py) firing and the alarm reaching the cloud when the uplink is up.

`start(...)` starts the home's uplink relay (tryggheim/demo/uplink_relay.py) and returns it with the agent's
environment: the cloud through the relay, the siren of the home's Zigbee2MQTT stand-in
(tryggheim/demo/radio.py, `start_publisher(..., siren=siren_name(seed))`) on its broker, and the SMS to the
demo's SMS-gateway stand-in (tryggheim/demo/sms.py), with a first route that is down as a cellular
fallback would find it. The overdue time is short so that a demo visitor sees it happen.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.ports import free_port
from tryggheim.demo.radio import siren_name
from tryggheim.demo.uplink_relay import UplinkRelay

OVERDUE_S = 20
DUTY_PHONE = "+4799999999"


def start(
    home_dir: Path, seed: int, cloud_port: int, broker_port: int, sms_url: str
) -> tuple[UplinkRelay, dict[str, str]]:
    """The running relay and the agent's `TRYGGHEIM_EDGE_*` variables; `sms_url` is the SMS stand-in's send
    URL (`SmsGateway.url`)."""
    relay = UplinkRelay(home_dir, "127.0.0.1", cloud_port).start()
    base, _, path = sms_url.partition("://")[2].partition("/")
    env = {
        "TRYGGHEIM_EDGE_CLOUD_URL": relay.url,
        "TRYGGHEIM_EDGE_ALARM_OVERDUE_S": str(OVERDUE_S),
        "TRYGGHEIM_EDGE_ALARM_RETRY_S": "10",
        "TRYGGHEIM_EDGE_LOCAL_ALARM__ENABLED": "true",
        "TRYGGHEIM_EDGE_LOCAL_ALARM__BROKER_PORT": str(broker_port),
        "TRYGGHEIM_EDGE_LOCAL_ALARM__SIRENS": json.dumps([siren_name(seed)]),
        "TRYGGHEIM_EDGE_LOCAL_ALARM__RETRY_S": "10",
        "TRYGGHEIM_EDGE_LOCAL_ALARM__SMS__BASE_URLS": json.dumps([f"http://127.0.0.1:{free_port()}", f"http://{base}"]),
        "TRYGGHEIM_EDGE_LOCAL_ALARM__SMS__PATH": f"/{path}",
        "TRYGGHEIM_EDGE_LOCAL_ALARM__SMS__RECIPIENTS": json.dumps([DUTY_PHONE]),
    }
    return relay, env
