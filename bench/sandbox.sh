#!/usr/bin/env bash
# Sandbox start-to-exit: /bin/true (busybox) in forge's sandbox, against
# bubblewrap with an equivalent minimal root and against plain fork/exec,
# in the same run; then forge with 1, 100 and 1,000 read-only inputs.
# Needs hyperfine and bubblewrap (apt-get install hyperfine bubblewrap) and
# busybox-static. FORGE_BIN overrides the forge binary.
set -Eeuo pipefail
# Fail loudly: name the command that failed (set -E: in functions too).
trap 'echo "bench/sandbox.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
forge=${FORGE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/forge}
[ -x "$forge" ] || { echo "build forge first: cargo build --release -p forge-cli" >&2; exit 1; }
for t in hyperfine bwrap /bin/busybox; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/forge-sandbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
for n in 1 100 1000; do
    mkdir -p "$work/in$n"
    for i in $(seq "$n"); do mkdir -p "$work/in$n/p$i"; done
done
ro_args() { for d in "$work/in$1"/*; do printf -- '--ro %s ' "$d"; done; }

hyperfine -N -w 5 -r "${RUNS:-50}" --export-markdown "$work/start.md" \
    -n 'fork/exec' '/bin/busybox true' \
    -n 'bwrap --unshare-all' 'bwrap --unshare-all --ro-bind /bin/busybox /bin/busybox --proc /proc --dev /dev --tmpfs /tmp /bin/busybox true' \
    -n 'forge sandbox run' "$forge sandbox run --ro /bin/busybox -- /bin/busybox true"
hyperfine -N -w 3 -r "${RUNS:-20}" --export-markdown "$work/inputs.md" \
    -n 'forge, 1 input' "$forge sandbox run --ro /bin/busybox $(ro_args 1) -- /bin/busybox true" \
    -n 'forge, 100 inputs' "$forge sandbox run --ro /bin/busybox $(ro_args 100) -- /bin/busybox true" \
    -n 'forge, 1000 inputs' "$forge sandbox run --ro /bin/busybox $(ro_args 1000) -- /bin/busybox true"
cat "$work/start.md" "$work/inputs.md"
