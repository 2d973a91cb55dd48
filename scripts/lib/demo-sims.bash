# Sourced by scripts/demo and scripts/demo-chain: the bundled Shopify and FBR simulators for a demo
# in $demo (127.0.0.1 only), their tokens (0600 files) and the demo's Shopify locations.
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

demo_tokens() {  # kept across runs of a demo that keeps its directory
  umask 077
  [ -f "$demo/shopify.token" ] || echo "shpat_demo_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$demo/shopify.token"
  [ -f "$demo/fbr.token" ] || echo "fbr-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$demo/fbr.token"
  umask 022
}

wait_listening() {  # a simulator prints "listening on ..." once it accepts requests
  local log=$1
  for _ in $(seq 1 300); do grep -q "listening on" "$log" 2>/dev/null && return 0; sleep 0.1; done
  echo "a simulator did not start; see $log" >&2; return 1
}

start_simulators() {  # $1 Shopify's port, $2 FBR's; their pids go on the caller's `pids`
  .venv/bin/python -m simulators shopify --port "$1" --data "$demo/shopify-sim" \
    --token "$(cat "$demo/shopify.token")" > "$demo/shopify-sim.log" 2>&1 &
  pids+=($!)
  .venv/bin/python -m simulators fbr --port "$2" --data "$demo/fbr-sim" \
    --token "$(cat "$demo/fbr.token")" > "$demo/fbr-sim.log" 2>&1 &
  pids+=($!)
  wait_listening "$demo/shopify-sim.log"
  wait_listening "$demo/fbr-sim.log"
}

shopify_locations() {  # $1 Shopify's port: the [shopify.locations] lines (LHR1 = "gid://...")
  .venv/bin/python - "$1" <<'PY'
import json, sys, urllib.request
from pos_core.demo import DEMO_LOCATIONS
state = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sim/state"))
codes = {loc: code for code, loc in DEMO_LOCATIONS.items()}
for loc in state["locations"]:
    if loc["code"] in codes:
        print(f'{codes[loc["code"]]} = "{loc["id"]}"')
PY
}
