#!/bin/sh
# Install the station as a systemd service on the line PC, or remove it. The reference PLC gateway's
# unit (station-gateway.service) is installed beside it and left disabled until the PLC is configured.
#
#   sudo tools/install.sh              install (or upgrade) and start
#   sudo tools/install.sh --uninstall  stop and remove the service and the venv; keep config and archive
#
# Layout: venv and model in $PREFIX (/opt/station), config in $CONFDIR/station.yaml (/etc/station;
# an edited config is never overwritten: the new default lands beside it as station.yaml.new),
# unit in $UNITDIR (/etc/systemd/system). Every path and the systemctl command can be overridden
# from the environment, which is how tests/test_systemd.py installs into a scratch folder.
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/station}
CONFDIR=${CONFDIR:-/etc/station}
UNITDIR=${UNITDIR:-/etc/systemd/system}
ARCHIVE=${ARCHIVE:-/var/lib/station/archive}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
PYTHON=${PYTHON:-python3}
VENV_ARGS=${VENV_ARGS:-}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

uninstall() {
    $SYSTEMCTL disable --now station-gateway.service 2>/dev/null || true
    $SYSTEMCTL disable --now station.service 2>/dev/null || true
    rm -f "$UNITDIR/station.service" "$UNITDIR/station-gateway.service"
    $SYSTEMCTL daemon-reload || true
    rm -rf "$PREFIX"
    say "removed the service and $PREFIX; kept $CONFDIR and /var/lib/station (remove them by hand if wanted)"
}

install_config() {
    mkdir -p "$CONFDIR"
    new="$CONFDIR/station.yaml.new"
    # the packaged default, with the model path pointing at the installed model
    sed -e "s|^  path: defect.onnx .*|  path: $PREFIX/models/defect.onnx  # installed by tools/install.sh|" \
        -e "s|^  dir: null .*|  dir: $ARCHIVE  # the unit's StateDirectory|" \
        "$HERE/station/defaults/station.yaml" > "$new"
    if [ ! -e "$CONFDIR/station.yaml" ]; then
        mv "$new" "$CONFDIR/station.yaml"
        say "config: $CONFDIR/station.yaml"
    elif cmp -s "$new" "$CONFDIR/station.yaml"; then
        rm -f "$new"
    else
        say "config: kept your $CONFDIR/station.yaml; the new default is $new"
    fi
}

install() {
    [ -f "$HERE/pyproject.toml" ] || die "$HERE: not the station's source tree"
    mkdir -p "$PREFIX/models" "$UNITDIR"
    # shellcheck disable=SC2086
    "$PYTHON" -m venv $VENV_ARGS "$PREFIX/venv" || die "cannot create $PREFIX/venv"
    # the wheel, as anyone would install it (default config and shipped model inside the package)
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    "$PREFIX/venv/bin/python" -m pip wheel -q --no-deps -w "$wheels" "$HERE" || die "cannot build the wheel"
    whl=$(ls "$wheels"/casting_station-*.whl)
    # with its dependencies, and pymodbus for the gateway's PLC output (pure Python, small)
    "$PREFIX/venv/bin/python" -m pip install -q --upgrade "$whl[modbus]" || die "pip install failed"
    "$PREFIX/venv/bin/python" -m pip install -q --no-deps --force-reinstall "$whl" || die "pip install failed"  # this build, even at the same version
    cp "$HERE/station/defaults/defect.onnx" "$HERE/models/README.md" "$PREFIX/models/"
    install_config
    "$PREFIX/venv/bin/station" check-config -c "$CONFDIR/station.yaml" || die "$CONFDIR/station.yaml does not validate"
    for unit in station.service station-gateway.service; do
        sed "s|/opt/station|$PREFIX|g; s|/etc/station/station.yaml|$CONFDIR/station.yaml|g" \
            "$HERE/systemd/$unit" > "$UNITDIR/$unit"
    done
    $SYSTEMCTL daemon-reload
    $SYSTEMCTL enable station.service
    # started, or on an upgrade restarted onto the new build; not waited on: it is ready only once its camera opens
    $SYSTEMCTL restart --no-block station.service
    # a running gateway takes the new build too, a stopped one stays stopped (not waited on: it starts after the station)
    $SYSTEMCTL try-restart --no-block station-gateway.service
    say "installed and starting; follow it with: journalctl -u station -f (systemctl status station: active once the camera is open)"
    say "the PLC gateway: set gateway.* in $CONFDIR/station.yaml, then: systemctl enable --now station-gateway"
}

case "${1:-}" in
    --uninstall) uninstall ;;
    "") install ;;
    *) die "usage: $0 [--uninstall]" ;;
esac
