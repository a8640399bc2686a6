#!/usr/bin/env bash
# npm run demo: the APIM emulator, RabbitMQ and apim-connect together. The emulator walks through
# deploying APIs, a subscription, a policy change and an undeploy; apim-connect follows it over
# REST and AMQP, and `apim-connect ctl snapshots --watch` prints each new router snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }

if ! port_open 5672; then
  echo "The demo needs RabbitMQ on 127.0.0.1:5672 (guest/guest):" >&2
  echo "  apt-get install -y rabbitmq-server && rabbitmq-server -detached" >&2
  exit 1
fi
for p in 9443 18000 19085; do
  if port_open "$p"; then echo "port $p is in use; stop what runs there first" >&2; exit 1; fi
done

npm run build --silent
npx tsc -p tools/apim-emulator/tsconfig.json

config=$(mktemp --suffix=.toml)
cat > "$config" <<TOML
[adapter]
apisDirectory = ""
debounceMs = 20
[controlPlane]
enabled = true
serviceURL = "http://127.0.0.1:9443/"
username = "admin"
password = "admin"
environmentLabels = ["Default"]
syncInterval = 60
sendRevisionUpdate = true
[controlPlane.brokerConnectionParameters]
eventListeningEndpoints = ["amqp://guest:guest@127.0.0.1:5672?retries='5'&connectdelay='1'"]
TOML

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -f "$config"' EXIT

echo "== APIM emulator on :9443, walking through its demo every 4 s"
node build/tools/apim-emulator/main.js --port 9443 --demo --step-delay 4000 --exit &
emulator=$!
pids+=("$emulator")
wait_port 9443

echo "== apim-connect following it (xDS on :18000)"
node dist/cli/main.js adapter --config "$config" &
pids+=($!)
wait_port 19085
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:19085/ready >/dev/null 2>&1 && break; sleep 0.1; done

echo "== router snapshots as they change (apim-connect ctl snapshots --watch)"
node dist/cli/main.js ctl snapshots --watch --config "$config" &
pids+=($!)

wait "$emulator"
sleep 2
echo "== done: the state apim-connect holds"
node dist/cli/main.js ctl state --config "$config"
