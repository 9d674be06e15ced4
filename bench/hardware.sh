#!/usr/bin/env bash
# Hardware sample cost inside the QEMU lab (../shared/hwlab): time and allocations per full sample
# of every probe (SMART by ioctl on a SATA disk, two RAID members and an NVMe controller, md RAID,
# hwmon), against `smartctl -a` on the same disks in the same VM. Prints measurements; asserts nothing.
#   bench/hardware.sh [N]     # N samples (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
HWLAB=../shared/hwlab/hwlab
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q -p centinela-bench --target x86_64-unknown-linux-gnu
BIN=target/x86_64-unknown-linux-gnu/release/centinela-bench
script="/hwlab/files/centinela-bench hw-sample $N; \
  time sh -c 'i=0; while [ \$i -lt $N ]; do smartctl -a /dev/sda >/dev/null; smartctl -a /dev/sdb >/dev/null; smartctl -a /dev/sdc >/dev/null; smartctl -a /dev/nvme0 >/dev/null; i=\$((i+1)); done'"
out=$(bash "$HWLAB" shell-cmd --raid-bus sata --merge-stderr --file "$BIN:/hwlab/files/centinela-bench" "$script")
echo "$out" | grep -E 'hw-sample|real|user|sys'
python3 - "$N" "$out" <<'PY'
import re, sys
n, out = int(sys.argv[1]), sys.argv[2]
smart = float(re.search(r"smart ([0-9.]+) ms", out).group(1))
full = float(re.search(r"hw-sample: \d+ samples, ([0-9.]+) ms", out).group(1))
m = re.search(r"real\s+(?:(\d+)m\s*)?([0-9.]+)s", out)
smartctl = (int(m.group(1) or 0) * 60 + float(m.group(2))) * 1000 / n
print(f"per sample: smartctl -a on the 4 disks {smartctl:.1f} ms; centinela smart probe {smart:.2f} ms "
      f"({smartctl / smart:.1f}x less); full sample of every probe {full:.2f} ms ({smartctl / full:.1f}x less)")
PY
