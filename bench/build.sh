#!/usr/bin/env bash
# bench/build.sh — `forge build` against `nix-build` on the same workloads, in the same run.
#
# Workloads (the issue's; each derivation's builder is busybox's sh on both sides: forge gets it
# as a `path` input, Nix as /bin/sh through `sandbox-paths = /bin/sh=/usr/bin/busybox`):
#   1. one trivial derivation, `echo n > $out` (fresh each time), and its no-op rebuild
#   2. wide: 200 independent trivial derivations plus one that cats them all, -j2; and its no-op
#   3. a chain of 100, each reading the previous
#   4. one output of 512 MiB of random data plus 2,000 small files
# Every run uses a fresh run id inside the derivations, so neither side finds old results.
#
# Usage: bench/build.sh [--quick] [--no-nix] [--runs N]
# Environment: BENCH_DIR (default /var/tmp/forge-bench-build), FORGE_BIN (default
# target/release/forge, built if missing).
set -Eeuo pipefail
# Fail loudly: name the command that failed (set -E: in functions too).
trap 'echo "bench/build.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

QUICK=0
USE_NIX=1
RUNS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-nix) USE_NIX=0 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FORGE_BIN:-}" ]; then
  FORGE_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/forge"
  [ -x "$FORGE_BIN" ] || (cd "$repo" && cargo build --release --locked -p forge-cli >&2)
fi
if [ "$USE_NIX" = 1 ] && ! command -v nix-build >/dev/null; then
  echo "nix-build not found: measuring forge only" >&2
  USE_NIX=0
fi
WIDE=200; CHAIN=100; BIG_MIB=512; SMALL=2000
if [ "$QUICK" = 1 ]; then WIDE=20; CHAIN=10; BIG_MIB=16; SMALL=100; RUNS=3; fi

BENCH_DIR=${BENCH_DIR:-/var/tmp/forge-bench-build}
run_id="$(date +%s)-$$"
work="$BENCH_DIR/$run_id"
mkdir -p "$work/recipes/tools"
# A repository (docs/recipes.md): `path` inputs may be anywhere inside it.
mkdir -p "$work/.git"
cp /bin/busybox "$work/recipes/tools/sh"
export FORGE_ROOT="$work/root"
trap 'rm -rf "$work"' EXIT

# Microseconds, without forking (bash 5's EPOCHREALTIME): timing noise stays
# well under a millisecond.
ms() { echo $(( ($2 - $1) / 1000 )); }

# recipe DIR NAME SCRIPT [DEP...]
recipe() {
  local dir=$1 name=$2 script=$3; shift 3
  mkdir -p "$dir"
  {
    printf '[recipe]\nname = "%s"\nversion = "1"\n\n[inputs]\nsh = { path = "%s" }\n' "$name" "$work/recipes/tools"
    for d in "$@"; do printf '%s = { recipe = "../%s" }\n' "$d" "$d"; done
    printf '\n[build]\ncommand = ["${sh}/sh", "-c", %s]\n' "'''$script'''"
  } >"$dir/recipe.toml"
}
# Paths in recipe.toml must be relative: rewrite the tools path. Every recipe
# gets the tools pin in its recipe.lock up front, as a committed recipe has
# (a fresh lock would add one fsync'd file write to the first build only).
fix_tools() {
  sed -i "s|path = \"$work/recipes/tools\"|path = \"../tools\"|" "$1/recipe.toml"
  if [ -f "$work/recipes/warm/recipe.lock" ]; then cp "$work/recipes/warm/recipe.lock" "$1/"; fi
}

nix_expr() { # NAME SCRIPT -> a derivation expression
  printf 'derivation { name = "%s"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" %s ]; }' "$1" "$2"
}

declare -A FORGE NIX

# Warm-up: the tools input enters the store once.
recipe "$work/recipes/warm" warm "echo warm > \$out"; fix_tools "$work/recipes/warm"
"$FORGE_BIN" build -q --no-link "$work/recipes/warm" >/dev/null

# 1. single trivial build, RUNS times, fresh each time.
t_forge=0; t_nix=0
for i in $(seq 1 "$RUNS"); do
  d="$work/recipes/single-$i"
  recipe "$d" "single-$i" "echo $run_id-$i > \$out"; fix_tools "$d"
  a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link "$d" >/dev/null; b=${EPOCHREALTIME/./}
  t_forge=$((t_forge + b - a))
  if [ "$USE_NIX" = 1 ]; then
    a=${EPOCHREALTIME/./}; nix-build --no-out-link -E "$(nix_expr "single-$i" "\"echo $run_id-$i > \$out\"")" >/dev/null 2>&1; b=${EPOCHREALTIME/./}
    t_nix=$((t_nix + b - a))
  fi
done
FORGE[single]=$((t_forge / RUNS / 1000)); NIX[single]=$((t_nix / RUNS / 1000))

# No-op rebuild of the last one.
t_forge=0; t_nix=0
for i in $(seq 1 "$RUNS"); do
  a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link "$d" >/dev/null; b=${EPOCHREALTIME/./}; t_forge=$((t_forge + b - a))
  if [ "$USE_NIX" = 1 ]; then
    a=${EPOCHREALTIME/./}; nix-build --no-out-link -E "$(nix_expr "single-$RUNS" "\"echo $run_id-$RUNS > \$out\"")" >/dev/null 2>&1; b=${EPOCHREALTIME/./}
    t_nix=$((t_nix + b - a))
  fi
done
FORGE[noop]=$((t_forge / RUNS / 1000)); NIX[noop]=$((t_nix / RUNS / 1000))

# 2. wide: WIDE independent + one that cats them all, -j2.
deps=()
nix_file="$work/wide.nix"
{
  echo "let"
  for i in $(seq 1 "$WIDE"); do
    echo "  w$i = $(nix_expr "w$i" "\"echo $run_id-w$i > \$out\"");"
  done
  printf 'in derivation { name = "all"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "cat'
  for i in $(seq 1 "$WIDE"); do printf ' ${w%s}' "$i"; done
  printf ' > $out" ]; }\n'
} >"$nix_file"
for i in $(seq 1 "$WIDE"); do
  recipe "$work/recipes/w$i" "w$i" "echo $run_id-w$i > \$out"; fix_tools "$work/recipes/w$i"
  deps+=("w$i")
done
script="cat"; for x in "${deps[@]}"; do script="$script \$$x"; done
recipe "$work/recipes/all" all "$script > \$out" "${deps[@]}"; fix_tools "$work/recipes/all"
a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link -j2 "$work/recipes/all" >/dev/null; b=${EPOCHREALTIME/./}; FORGE[wide]=$(ms "$a" "$b")
a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link -j2 "$work/recipes/all" >/dev/null; b=${EPOCHREALTIME/./}; FORGE[wide_noop]=$(ms "$a" "$b")
if [ "$USE_NIX" = 1 ]; then
  a=${EPOCHREALTIME/./}; nix-build --no-out-link -j2 "$nix_file" >/dev/null 2>&1; b=${EPOCHREALTIME/./}; NIX[wide]=$(ms "$a" "$b")
  a=${EPOCHREALTIME/./}; nix-build --no-out-link -j2 "$nix_file" >/dev/null 2>&1; b=${EPOCHREALTIME/./}; NIX[wide_noop]=$(ms "$a" "$b")
fi

# 3. chain of CHAIN.
nix_file="$work/chain.nix"
{
  echo "let"
  echo "  c1 = $(nix_expr c1 "\"echo $run_id-c1 > \$out\"");"
  for i in $(seq 2 "$CHAIN"); do
    echo "  c$i = $(nix_expr "c$i" "\"cat \${c$((i - 1))} > \$out; echo $i >> \$out\"");"
  done
  echo "in c$CHAIN"
} >"$nix_file"
recipe "$work/recipes/c1" c1 "echo $run_id-c1 > \$out"; fix_tools "$work/recipes/c1"
for i in $(seq 2 "$CHAIN"); do
  p=$((i - 1))
  recipe "$work/recipes/c$i" "c$i" "cat \$c$p > \$out; echo $i >> \$out" "c$p"; fix_tools "$work/recipes/c$i"
done
a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link "$work/recipes/c$CHAIN" >/dev/null; b=${EPOCHREALTIME/./}; FORGE[chain]=$(ms "$a" "$b")
if [ "$USE_NIX" = 1 ]; then
  a=${EPOCHREALTIME/./}; nix-build --no-out-link "$nix_file" >/dev/null 2>&1; b=${EPOCHREALTIME/./}; NIX[chain]=$(ms "$a" "$b")
fi

# 4. big output.
big="mkdir -p \$out/small; head -c $((BIG_MIB << 20)) /dev/urandom > \$out/big; i=0; while [ \$i -lt $SMALL ]; do echo $run_id-\$i > \$out/small/f\$i; i=\$((i+1)); done"
recipe "$work/recipes/big" big "$big"; fix_tools "$work/recipes/big"
a=${EPOCHREALTIME/./}; "$FORGE_BIN" build -q --no-link "$work/recipes/big" >/dev/null; b=${EPOCHREALTIME/./}; FORGE[big]=$(ms "$a" "$b")
if [ "$USE_NIX" = 1 ]; then
  nix_big=${big//\"/\\\"}
  a=${EPOCHREALTIME/./}; nix-build --no-out-link -E "$(nix_expr big "\"$nix_big\"")" >/dev/null 2>&1; b=${EPOCHREALTIME/./}; NIX[big]=$(ms "$a" "$b")
fi

# The sandbox alone, for "forge overhead beyond the sandbox".
a=${EPOCHREALTIME/./}
for _ in $(seq 1 "$RUNS"); do "$FORGE_BIN" sandbox run --ro "$work/recipes/tools" -- "$work/recipes/tools/sh" -c true; done
b=${EPOCHREALTIME/./}; sandbox_ms=$(( (b - a) / RUNS / 1000 ))

printf '\nforge %s vs %s (%s runs per latency row; 2-core machine, numbers vary ~10-30%%)\n\n' \
  "$("$FORGE_BIN" --version | cut -d' ' -f2)" "$( [ "$USE_NIX" = 1 ] && nix-build --version | head -1 || echo 'no nix')" "$RUNS"
printf '| workload | forge | nix | nix/forge |\n|---|---|---|---|\n'
row() {
  local key=$1 label=$2 f=${FORGE[$1]:-} n=${NIX[$1]:-}
  if [ "$USE_NIX" = 1 ] && [ -n "$n" ] && [ "$f" -gt 0 ]; then
    printf '| %s | %s ms | %s ms | %s |\n' "$label" "$f" "$n" "$(awk -v n="$n" -v f="$f" 'BEGIN{printf "%.1fx", n/f}')"
  else
    printf '| %s | %s ms | - | - |\n' "$label" "$f"
  fi
}
row single "single trivial build"
row noop "no-op rebuild"
row wide "wide $WIDE + 1, -j2"
row wide_noop "wide, no-op"
row chain "chain of $CHAIN"
row big "$BIG_MIB MiB + $SMALL files output"
printf '\nsandbox alone (forge sandbox run sh -c true): %s ms, so forge overhead on a trivial build is ~%s ms\n' \
  "$sandbox_ms" "$(( FORGE[single] - sandbox_ms ))"
