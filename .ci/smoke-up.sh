#!/usr/bin/env bash
# The README's first command on this checkout: `make up` must bring up web + its three workers +
# broker, serve the app and the API, and stop cleanly on Ctrl-C (SIGINT).
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
var=$(mktemp -d)
log="$var/up.log"
env -u DATABASE_URL -u REDIS_URL -u AWS_STORAGE_BUCKET_NAME BAKEHOUSE_VAR_DIR="$var" PORT="$port" setsid make up >"$log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/api/v1/health/" 2>/dev/null | grep -q '"workers":3'; then ok=1; break; fi
  sleep 1
done
if [ "$ok" != 1 ]; then echo "make up did not become healthy"; tail -50 "$log"; kill -INT -- -"$pid" || true; exit 1; fi
curl -fsS "http://127.0.0.1:$port/" | grep -qi '<html' || { echo "no browser app at /"; exit 1; }
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d '{"username":"smoke","password":"a-long-enough-pass-42"}' \
  "http://127.0.0.1:$port/api/v1/auth/signup/" | grep -q '"token"' || { echo "sign-up failed"; exit 1; }
# The web process answers before `up` has finished starting the rest and printed the URL.
printed=0
for _ in $(seq 1 30); do
  if grep -q "Bakehouse is running at http://127.0.0.1:$port" "$log"; then printed=1; break; fi
  sleep 1
done
[ "$printed" = 1 ] || { echo "no URL printed"; tail -20 "$log"; kill -INT -- -"$pid" || true; exit 1; }
kill -INT -- -"$pid"
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$pid" 2>/dev/null; then echo "make up did not stop on Ctrl-C"; kill -KILL -- -"$pid"; exit 1; fi
if pgrep -f "BAKEHOUSE_VAR_DIR=$var" >/dev/null || [ -S "$var/run/redis.sock" ]; then echo "processes left behind"; exit 1; fi
grep -q "Stopped." "$log" || { echo "no clean stop message"; tail -20 "$log"; exit 1; }
echo "make up smoke test: 1 passed, 0 failed"
rm -rf "$var"
