#!/usr/bin/env bash
# Centinela benchmarks. Prints measurements; it is not a test and asserts nothing.
#   bench/run.sh                       # agent footprint over 60 s (two builds), wire sizes, ingest
#   WINDOW=20 N=50000 bench/run.sh     # shorter run
# Needs: mosquitto, mosquitto_sub (apt-get install mosquitto mosquitto-clients), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-60}      # seconds each agent build is observed
INTERVAL=${INTERVAL:-10s} # agent sampling interval
N=${N:-200000}            # samples in the simulated fleet
AGENTS=${AGENTS:-1000}    # simulated servers

cargo build --release -q -p centinela-collector -p centinela-bench
# The packaged agent's profile, linked as usual and statically with glibc (the static build has no
# libc.so, libm.so or ld.so mappings; a candidate for the .deb).
cargo build --profile agent -q -p centinela-agent
RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile agent -q -p centinela-agent --target x86_64-unknown-linux-gnu
BIN=target/release
T=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

MQ=$(free_port)
cat > "$T/mosquitto.conf" <<CONF
listener $MQ 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 1000
user root
CONF
mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
sleep 0.5
echo "# Centinela benchmarks — $(date -u +%FT%TZ) — $(nproc) cores, $(uname -r)"
echo
# A collector must have said `online` before agents send anything (see ARCHITECTURE.md).
HTTP=$(free_port)
printf 'data_dir = "%s/collector"\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\n[http]\nlisten = "127.0.0.1:%s"\n' "$T" "$MQ" "$HTTP" > "$T/collector.toml"
"$BIN/centinela-collector" serve --config "$T/collector.toml" 2>"$T/collector0.log" &
CPID=$!
"$BIN/centinela-bench" wait-stored "$HTTP" 0 >/dev/null

# 1. Agent footprint, read from /proc, for each build of the agent.
measure_agent() {
  local bin=$1 label=$2
  rm -rf "$T/agent"; mkdir -p "$T/agent"
  printf 'id = "bench-agent"\ninterval = "%s"\nstate_dir = "%s/agent/state"\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\n' "$INTERVAL" "$T" "$MQ" > "$T/agent.toml"
  "$bin" run --config "$T/agent.toml" 2>"$T/agent.log" &
  local apid=$!
  sleep 3
  # CPU time in nanoseconds from schedstat: /proc/PID/stat's 10 ms ticks are too coarse for an
  # agent that works a few milliseconds per minute.
  local t0 t1 s0 s1 rss max_rss=0 rss_end
  t0=$(awk '{print $1}' "/proc/$apid/schedstat"); s0=$(now)
  for _ in $(seq "$WINDOW"); do
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$apid/status"); [ "$rss" -gt "$max_rss" ] && max_rss=$rss
    sleep 1
  done
  t1=$(awk '{print $1}' "/proc/$apid/schedstat"); s1=$(now)
  rss_end=$(awk '/^VmRSS/{print $2}' "/proc/$apid/status")
  kill -TERM $apid; wait $apid || true
  python3 - "$t0" "$t1" "$s0" "$s1" "$max_rss" "$rss_end" "$WINDOW" "$INTERVAL" "$label" "$(stat -c %s "$bin")" <<'PY'
import sys
t0, t1, s0, s1, mx, end, win, iv, label, size = sys.argv[1:]
cpu = (int(t1) - int(t0)) / 1e9 / (float(s1) - float(s0)) * 100
print(f"agent ({label}, binary {int(size)/1048576:.1f} MiB): interval {iv}, window {win} s: "
      f"RSS max {int(mx)/1024:.2f} MiB ({int(mx)} kB), at end {int(end)} kB; "
      f"CPU {cpu:.4f} % of one core ({(int(t1)-int(t0))/1e6:.1f} ms of CPU time)")
PY
}
measure_agent target/agent/centinela-agent "dynamic glibc"
measure_agent target/x86_64-unknown-linux-gnu/agent/centinela-agent "static glibc"
kill -TERM $CPID; wait $CPID || true

# 2. Encoded size of one real sample of this machine.
echo "wire: $("$BIN/centinela-bench" sizes)"

# 3. Ingest: N samples from AGENTS simulated servers queued in Mosquitto for the collector's
#    persistent session, then drained into SQLite; and, in the same run, the raw rate at which
#    mosquitto_sub drains the same queue (QoS 1, persistent session).
rm -rf "$T/collector"
"$BIN/centinela-collector" serve --config "$T/collector.toml" 2>"$T/collector1.log" &
CPID=$!
"$BIN/centinela-bench" wait-stored "$HTTP" 0 >/dev/null
kill -TERM $CPID; wait $CPID || true
mosquitto_sub -p "$MQ" -c -i bench-raw -q 1 -t 'centinela/v1/+/sample' -E
"$BIN/centinela-bench" publish "mqtt://127.0.0.1:$MQ" "$AGENTS" "$N" 2>"$T/publish.log"
"$BIN/centinela-collector" serve --config "$T/collector.toml" 2>"$T/collector2.log" &
CPID=$!
secs=$("$BIN/centinela-bench" wait-stored "$HTTP" "$N")   # seconds from the collector's start
CRSS=$(awk '/^VmRSS/{print $2}' "/proc/$CPID/status")
kill -TERM $CPID; wait $CPID || true
r0=$(now)
mosquitto_sub -p "$MQ" -c -i bench-raw -q 1 -t 'centinela/v1/+/sample' -C "$N" >/dev/null
r1=$(now)
python3 - "$N" "$AGENTS" "$secs" "$r0" "$r1" "$CRSS" <<'PY'
import sys
n, agents, ct, r0, r1, rss = sys.argv[1:]
n, ct, rt = int(n), float(ct), float(r1) - float(r0)
print(f"ingest: {n} samples from {agents} servers through Mosquitto into SQLite in {ct:.2f} s = {n/ct:,.0f} samples/s (collector RSS {int(rss)/1024:.1f} MiB, startup included)")
print(f"raw:    mosquitto_sub drained the same {n} messages in {rt:.2f} s = {n/rt:,.0f} messages/s")
PY
