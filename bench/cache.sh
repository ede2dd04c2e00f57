#!/usr/bin/env bash
# bench/cache.sh — pushing to and pulling from a binary cache: forge against Nix 2.8's `nix copy`
# on the same bytes, in the same run.
#
# Workload: one store path holding one file of incompressible random data (256 MiB; 32 MiB with
# --quick). forge builds it (a recipe writing /dev/urandom), Nix adds the very same file
# (`nix-store --add`), so both push the same bytes.
#   push zstd:  forge copy --to file://A (default: zstd, every core) vs
#               nix copy --to 'file://B?compression=zstd'
#   push none:  forge copy --compression none vs nix copy --to 'file://B?compression=none'
#   pull:       an empty store substitutes the path from the cache: `forge build` of the recipe
#               with the cache as substituter (nothing built) vs `nix copy --from file://B` into
#               a fresh chroot store
# Each figure is the median of --runs runs (default 5; 3 with --quick), each into a fresh cache
# or store. Ratios are nix / forge (> 1: forge is faster).
#
# Usage: bench/cache.sh [--quick] [--no-nix] [--runs N]
# Environment: BENCH_DIR (default /var/tmp/forge-bench-cache), FORGE_BIN (default
# target/release/forge, built if missing).
set -Eeuo pipefail
trap 'echo "bench/cache.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

QUICK=0
USE_NIX=1
RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-nix) USE_NIX=0 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "cache.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
MIB=256
if [ "$QUICK" = 1 ]; then MIB=32; RUNS=3; fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FORGE_BIN:-}" ]; then
  FORGE_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/forge"
  [ -x "$FORGE_BIN" ] || (cd "$repo" && cargo build --release --locked -p forge-cli >&2)
fi
if [ "$USE_NIX" = 1 ] && ! command -v nix >/dev/null; then
  echo "nix not found: measuring forge only" >&2
  USE_NIX=0
fi
nix_() { nix --extra-experimental-features nix-command "$@"; }

BENCH_DIR=${BENCH_DIR:-/var/tmp/forge-bench-cache}
work="$BENCH_DIR/$(date +%s)-$$"
mkdir -p "$work/recipes/tools" "$work/.git"
cp /bin/busybox "$work/recipes/tools/sh"
export FORGE_ROOT="$work/root"
export XDG_CONFIG_HOME="$work/config"
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/recipes/big"
cat >"$work/recipes/big/recipe.toml" <<EOF
[recipe]
name = "big"
version = "$(date +%s)"

[inputs]
sh = { path = "../tools" }

[build]
command = ["\${sh}/sh", "-c", '''mkdir \$out; head -c $((MIB * 1048576)) /dev/urandom > \$out/data''']
EOF

# Microseconds, without forking.
now() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# time_ms CMD...: runs CMD (output discarded, failure fatal, named) and prints milliseconds.
time_ms() {
  local a b
  a=$(now)
  if ! "$@" >/dev/null 2>"$work/last.err"; then
    echo "bench/cache.sh: command failed: $*" >&2
    cat "$work/last.err" >&2
    exit 1
  fi
  b=$(now)
  echo $(( (b - a) / 1000 ))
}

"$FORGE_BIN" key generate bench-1 -o "$work/k.sec" >"$work/k.pub"
out=$("$FORGE_BIN" build "$work/recipes/big" --no-link -q)
echo "built $out ($MIB MiB)" >&2
data="$FORGE_ROOT/store/${out#/forge/store/}/data"
cat "$data" >/dev/null

declare -A FORGE NIX
runs() { # KEY SIDE CMD-MAKER: runs the maker's command RUNS times, records the median
  local key=$1 side=$2 maker=$3 i
  local times=()
  for i in $(seq 1 "$RUNS"); do
    times+=("$($maker "$i")")
  done
  local m
  m=$(printf '%s\n' "${times[@]}" | median)
  if [ "$side" = forge ]; then FORGE[$key]=$m; else NIX[$key]=$m; fi
}

forge_push_zstd() { time_ms "$FORGE_BIN" copy -q --to "file://$work/fc-zstd-$1" --secret-key "$work/k.sec" "$out"; }
forge_push_none() { time_ms "$FORGE_BIN" copy -q --compression none --to "file://$work/fc-none-$1" --secret-key "$work/k.sec" "$out"; }
forge_pull() {
  FORGE_ROOT="$work/pull-$1" time_ms "$FORGE_BIN" build "$work/recipes/big" --no-link -q \
    --substituters "file://$work/fc-zstd-1" --trusted-public-keys "$(cat "$work/k.pub")"
}
runs push_zstd forge forge_push_zstd
runs push_none forge forge_push_none
runs pull forge forge_pull
# The pull really substituted (nothing built): the last pull store has the path.
[ -e "$work/pull-$RUNS/store/${out#/forge/store/}/data" ] || { echo "bench/cache.sh: forge pull did not produce $out" >&2; exit 1; }

if [ "$USE_NIX" = 1 ]; then
  npath=$(nix-store --add "$data")
  nix_push_zstd() { time_ms nix_ copy --to "file://$work/nc-zstd-$1?compression=zstd" "$npath"; }
  nix_push_none() { time_ms nix_ copy --to "file://$work/nc-none-$1?compression=none" "$npath"; }
  nix_pull() {
    time_ms nix_ copy --no-check-sigs --from "file://$work/nc-zstd-1" --to "$work/nixstore-$1" "$npath"
  }
  runs push_zstd nix nix_push_zstd
  runs push_none nix nix_push_none
  runs pull nix nix_pull
  nix-store --delete "$npath" >/dev/null 2>&1 || true
fi

printf '\nbench/cache.sh: %s MiB incompressible, median of %s runs; forge %s, %s\n\n' "$MIB" "$RUNS" \
  "$("$FORGE_BIN" --version | cut -d' ' -f2)" "$( [ "$USE_NIX" = 1 ] && nix --version || echo 'no nix')"
printf '| workload | forge ms | nix ms | nix/forge |\n|---|---|---|---|\n'
for k in push_zstd push_none pull; do
  f=${FORGE[$k]}; n=${NIX[$k]:-}
  if [ -n "$n" ] && [ "$f" -gt 0 ]; then
    r=$(awk -v n="$n" -v f="$f" 'BEGIN {printf "%.2fx", n / f}')
  else
    r=-; n=${n:--}
  fi
  printf '| %s | %s | %s | %s |\n' "$k" "$f" "$n" "$r"
done
