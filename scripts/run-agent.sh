#!/bin/sh
# Builds phoenix-ga and runs it on a unix socket inside the checkout, ready for socat.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.sh"
phx_install_deps $PHX_BUILD_DEPS socat

cd "$ROOT"
[ -f build/build.ninja ] || meson setup build --werror >/dev/null
ninja -C build >/dev/null
mkdir -p run
SOCK="$ROOT/run/phoenix-ga.sock"
echo "phoenix-ga is listening. Talk to it with:"
echo "    socat - UNIX-CONNECT:$SOCK"
echo "then type e.g. {\"execute\": \"ping\", \"tag\": \"1\"}   (Ctrl-C here stops the agent)"
# Self-contained: its freeze marker stays in the checkout, and it does not try to own its
# name on this machine's system bus (the policy is not installed here; see doc/dbus.md), nor
# read a configuration file installed on this machine.
exec "$ROOT/build/src/phoenix-ga" -m unix-listen -p "$SOCK" --runtime-dir "$ROOT/run" --no-dbus --no-config "$@"
