#!/bin/sh
# Install the Tryggheim edge agent on Debian 12 / Raspberry Pi OS (bookworm): BlueZ, a localhost-only
# Mosquitto, a Python virtual environment in /opt/tryggheim and the systemd unit. Run as root from this
# directory. Afterwards: enrol, pair, start (docs/installer.md).
#
#   sudo ./install.sh                       # tryggheim[edge] from the package index
#   sudo ./install.sh ./tryggheim-*.whl     # a wheel you brought along (offline install)
set -eu

PACKAGE="${1:-tryggheim}"
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=/opt/tryggheim/venv

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh must run as root (sudo ./install.sh)" >&2
    exit 1
fi

echo "== system packages"
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv bluez mosquitto

echo "== service user"
if ! id tryggheim >/dev/null 2>&1; then
    adduser --system --group --home /var/lib/tryggheim --no-create-home tryggheim
fi
usermod -a -G bluetooth tryggheim
install -d -o tryggheim -g tryggheim -m 0750 /etc/tryggheim /var/lib/tryggheim

echo "== agent"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
"$VENV/bin/pip" install "${PACKAGE}[edge]"
ln -sf "$VENV/bin/tryggheim" /usr/local/bin/tryggheim

echo "== local broker (localhost only, persistent, queue_qos0_messages)"
if [ -f /etc/mosquitto/mosquitto.conf ] && [ ! -f /etc/mosquitto/mosquitto.conf.orig ]; then
    cp /etc/mosquitto/mosquitto.conf /etc/mosquitto/mosquitto.conf.orig
fi
install -m 0644 "$HERE/mosquitto.conf" /etc/mosquitto/mosquitto.conf
install -d -o mosquitto -g mosquitto -m 0750 /var/lib/mosquitto
systemctl enable mosquitto
systemctl restart mosquitto

echo "== systemd unit"
install -m 0644 "$HERE/tryggheim-edge.service" /etc/systemd/system/tryggheim-edge.service
systemctl daemon-reload
systemctl enable bluetooth tryggheim-edge

cat <<'NEXT'

Installed. Next, as root:
  tryggheim edge enrol --cloud https://<your cloud> --code <CODE> --config /etc/tryggheim/gateway.toml
  chown -R tryggheim:tryggheim /etc/tryggheim
  systemctl start tryggheim-edge
  tryggheim edge pair --config /etc/tryggheim/gateway.toml
  tryggheim edge status --config /etc/tryggheim/gateway.toml
NEXT
