#!/usr/bin/env bash
# Centinela benchmarks. Prints measurements; it is not a test and asserts nothing.
#   bench/run.sh            # agent footprint over 60 s, wire sizes, ingest through Mosquitto
#   WINDOW=20 N=50000 bench/run.sh   # shorter run
# Needs: mosquitto, mosquitto_sub (apt-get install mosquitto mosquitto-clients), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-60}      # seconds the agent is observed
INTERVAL=${INTERVAL:-10s} # agent sampling interval
N=${N:-200000}            # samples in the simulated fleet
AGENTS=${AGENTS:-1000}    # simulated servers

cargo build --release -q -p centinela-collector -p centinela-bench
cargo build --profile agent -q -p centinela-agent   # the packaged agent's profile
BIN=target/release
AGENT_BIN=target/agent/centinela-agent
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

# 1. Agent footprint, read from /proc.
mkdir -p "$T/agent"
printf 'id = "bench-agent"\ninterval = "%s"\nstate_dir = "%s/agent/state"\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\n' "$INTERVAL" "$T" "$MQ" > "$T/agent.toml"
"$AGENT_BIN" run --config "$T/agent.toml" 2>"$T/agent.log" &
APID=$!
sleep 3
# CPU time in nanoseconds from schedstat: /proc/PID/stat's 10 ms ticks are too coarse for an
# agent that works a few milliseconds per minute.
cpu_ns() { awk '{print $1}' "/proc/$APID/schedstat"; }
HZ=1000000000
t0=$(cpu_ns); s0=$(now); max_rss=0
for _ in $(seq "$WINDOW"); do
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$APID/status"); [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  sleep 1
done
t1=$(cpu_ns); s1=$(now)
rss_end=$(awk '/^VmRSS/{print $2}' "/proc/$APID/status")
kill -TERM $APID; wait $APID || true
python3 - "$t0" "$t1" "$s0" "$s1" "$HZ" "$max_rss" "$rss_end" "$WINDOW" "$INTERVAL" <<'PY'
import sys
t0, t1, s0, s1, hz, mx, end, win, iv = sys.argv[1:]
cpu = (int(t1) - int(t0)) / int(hz) / (float(s1) - float(s0)) * 100
print(f"agent: interval {iv}, window {win} s: RSS max {int(mx)/1024:.2f} MiB ({int(mx)} kB), at end {int(end)} kB; CPU {cpu:.4f} % of one core ({(int(t1)-int(t0))/1e6:.1f} ms of CPU time)")
PY

# 2. Encoded size of one real sample of this machine.
echo "wire: $("$BIN/centinela-bench" sizes)"

# 3. Ingest: N samples from AGENTS simulated servers queued in Mosquitto for the collector's
#    persistent session, then drained into SQLite; and, in the same run, the raw rate at which
#    mosquitto_sub drains the same queue (QoS 1, persistent session).
HTTP=$(free_port)
printf 'data_dir = "%s/collector"\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\n[http]\nlisten = "127.0.0.1:%s"\n' "$T" "$MQ" "$HTTP" > "$T/collector.toml"
"$BIN/centinela-collector" serve --config "$T/collector.toml" 2>"$T/collector1.log" &
CPID=$!
until curl -sf "http://127.0.0.1:$HTTP/healthz" | grep -q '"mqtt":"connected"'; do sleep 0.1; done
kill -TERM $CPID; wait $CPID || true
mosquitto_sub -p "$MQ" -c -i bench-raw -q 1 -t 'centinela/v1/+/sample' -E
"$BIN/centinela-bench" publish "mqtt://127.0.0.1:$MQ" "$AGENTS" "$N" 2>"$T/publish.log"
"$BIN/centinela-collector" serve --config "$T/collector.toml" 2>"$T/collector2.log" &
CPID=$!
c0=0
c1=$("$BIN/centinela-bench" wait-stored "$HTTP" "$N")   # seconds from the collector's start
CRSS=$(awk '/^VmRSS/{print $2}' "/proc/$CPID/status")
kill -TERM $CPID; wait $CPID || true
r0=$(now)
mosquitto_sub -p "$MQ" -c -i bench-raw -q 1 -t 'centinela/v1/+/sample' -C "$N" >/dev/null
r1=$(now)
python3 - "$N" "$AGENTS" "$c0" "$c1" "$r0" "$r1" "$CRSS" <<'PY'
import sys
n, agents, c0, c1, r0, r1, rss = sys.argv[1:]
n = int(n)
ct, rt = float(c1) - float(c0), float(r1) - float(r0)
print(f"ingest: {n} samples from {agents} servers through Mosquitto into SQLite in {ct:.2f} s = {n/ct:,.0f} samples/s (collector RSS {int(rss)/1024:.1f} MiB, startup included)")
print(f"raw:    mosquitto_sub drained the same {n} messages in {rt:.2f} s = {n/rt:,.0f} messages/s")
PY
