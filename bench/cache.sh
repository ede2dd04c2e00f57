#!/usr/bin/env bash
# bench/cache.sh — binary caches: pushing and pulling against Nix 2.8's `nix copy`, narinfo
# queries for a 1,000-path closure through forge's server, and forge's server against nginx
# serving the same directory; all in the same run.
#
# Workload: one store path holding one file of incompressible random data (256 MiB; 32 MiB with
# --quick). forge builds it (a recipe writing /dev/urandom), Nix adds the very same file
# (`nix-store --add`), so both push the same bytes. A second path of the same size holds base64
# text (moderately compressible: zstd keeps ~77% of it), made and added the same way.
#   push:       forge copy --to file://A (the default, `auto`: zstd on every core, but a NAR whose
#               first 4 MiB zstd cannot shrink by 3% is stored as it is) vs
#               nix copy --to 'file://B?compression=zstd'
#   push zstd:  forge copy --compression zstd (zstd whatever the data) vs the same Nix push
#   push none:  forge copy --compression none vs nix copy --to 'file://B?compression=none'
#   pull:       an empty store substitutes the path from the cache of the first push: `forge
#               build` of the recipe with the cache as substituter (nothing built) vs `nix copy
#               --from file://B` (Nix's zstd push) into a fresh chroot store; pull zstd: forge
#               from its zstd push's cache
#   text push, text pull: the same default push and pull of the base64 path
#   closure:    1,000 small paths and one naming them all pushed to `forge cache serve --dir S`
#               (FORGE_CACHE_TOKEN), then `forge copy --to http://…` again (every path present:
#               only the existence checks), 1,001 narinfo GETs 16 at once, one batch query
#   server:     the big path pushed uncompressed into S too; forge's server and nginx serve S
#               side by side: narinfo latency (sequential, and 16 clients), NAR throughput (one
#               download, 8 at once), measured by crates/forge-cache/examples/http_load.rs
# Each push/pull figure is the median of --runs runs (default 5; 3 with --quick), each into a
# fresh cache or store. Ratios: nix / forge (> 1: forge is faster); forge vs nginx as forge's
# cost (latency forge/nginx, throughput nginx/forge; goal <= 1.5).
#
# Usage: bench/cache.sh [--quick] [--no-nix] [--no-nginx] [--install-nginx] [--runs N]
# Environment: BENCH_DIR (default /var/tmp/forge-bench-cache), FORGE_BIN (default
# target/release/forge, built if missing), LOAD_BIN (default target/release/examples/http_load,
# built if missing).
set -Eeuo pipefail
trap 'echo "bench/cache.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

QUICK=0
USE_NIX=1
USE_NGINX=1
INSTALL_NGINX=0
RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-nix) USE_NIX=0 ;;
    --no-nginx) USE_NGINX=0 ;;
    --install-nginx) INSTALL_NGINX=1 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "cache.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
MIB=256
SMALL=1000  # small paths in the closure (plus the one naming them all)
SEQ=2000    # sequential narinfo GETs per server
CONC=5000   # narinfo GETs from 16 clients per server
SRV_RUNS=3  # server comparisons: runs per figure, forge and nginx alternating
if [ "$QUICK" = 1 ]; then MIB=32; RUNS=3; SEQ=500; CONC=1000; SRV_RUNS=1; fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FORGE_BIN:-}" ]; then
  FORGE_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/forge"
  [ -x "$FORGE_BIN" ] || (cd "$repo" && cargo build --release --locked -p forge-cli >&2)
fi
if [ -z "${LOAD_BIN:-}" ]; then
  LOAD_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/examples/http_load"
  [ -x "$LOAD_BIN" ] || (cd "$repo" && cargo build --release --locked -p forge-cache --example http_load >&2)
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
pids=()  # background servers, stopped at exit
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
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
mkdir -p "$work/recipes/text"
sed -e 's/name = "big"/name = "text"/' \
  -e "s|head -c $((MIB * 1048576)) /dev/urandom > |head -c $((MIB * 786432)) /dev/urandom \\| base64 > |" \
  "$work/recipes/big/recipe.toml" >"$work/recipes/text/recipe.toml"

# Microseconds, without forking.
now() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# time_ms CMD...: runs CMD (output discarded, failure fatal, named) and prints milliseconds.
# Dirty pages of the previous run are written out first (`sync`), so no run pays for another's
# writeback. forge fsyncs each NAR before it publishes its narinfo, Nix does not: with DURABLE=1
# the timing includes a `sync` after CMD, so both are timed until their cache is on disk.
time_ms() {
  local a b
  sync
  a=$(now)
  if ! "$@" >/dev/null 2>"$work/last.err"; then
    echo "bench/cache.sh: command failed: $*" >&2
    cat "$work/last.err" >&2
    exit 1
  fi
  if [ "${DURABLE:-0}" = 1 ]; then sync; fi
  b=$(now)
  echo $(( (b - a) / 1000 ))
}

"$FORGE_BIN" key generate bench-1 -o "$work/k.sec" >"$work/k.pub"
out=$("$FORGE_BIN" build "$work/recipes/big" --no-link -q)
echo "built $out ($MIB MiB)" >&2
data="$FORGE_ROOT/store/${out#/forge/store/}/data"
text=$("$FORGE_BIN" build "$work/recipes/text" --no-link -q)
text_data="$FORGE_ROOT/store/${text#/forge/store/}/data"
cat "$data" "$text_data" >/dev/null

declare -A FORGE NIX TIMES
WORKLOADS=()  # "KEY SIDE FUNCTION", in the order each round runs them
workload() { WORKLOADS+=("$1 $2 $3"); }
# Runs every workload once per round, RUNS rounds, so a slow spell of the disk or the machine
# falls on every workload alike instead of on whichever ran then; records the medians. Round 1's
# caches stay (the pulls read them); later rounds' caches and stores go as the round ends.
measure() {
  local i w key side fn
  for i in $(seq 1 "$RUNS"); do
    for w in "${WORKLOADS[@]}"; do
      read -r key side fn <<<"$w"
      TIMES[$side.$key]+=" $($fn "$i")"
    done
    if [ "$i" -gt 1 ]; then
      chmod -R u+w "$work"/{fc,nc,pull,nixstore}-*-"$i" 2>/dev/null || true
      rm -rf "$work"/{fc,nc,pull,nixstore}-*-"$i"
    fi
  done
  for w in "${WORKLOADS[@]}"; do
    read -r key side fn <<<"$w"
    local m
    m=$(tr ' ' '\n' <<<"${TIMES[$side.$key]}" | grep . | median)
    if [ "$side" = forge ]; then FORGE[$key]=$m; else NIX[$key]=$m; fi
  done
}

# push_to NAME TARGET RUN [ARGS…]: forge copy of TARGET into a fresh cache fc-NAME-RUN.
push_to() {
  local name=$1 target=$2 run=$3
  shift 3
  time_ms "$FORGE_BIN" copy -q "$@" --to "file://$work/fc-$name-$run" --secret-key "$work/k.sec" "$target"
}
forge_push_default() { push_to default "$out" "$1"; }
forge_push_zstd() { push_to zstd "$out" "$1" --compression zstd; }
forge_push_none() { push_to none "$out" "$1" --compression none; }
forge_push_text() { push_to text "$text" "$1"; }
# pull_from NAME RECIPE RUN: forge build of RECIPE into a fresh store from the cache fc-NAME-1.
pull_from() {
  FORGE_ROOT="$work/pull-$1-$3" time_ms "$FORGE_BIN" build "$work/recipes/$2" --no-link -q \
    --substituters "file://$work/fc-$1-1" --trusted-public-keys "$(cat "$work/k.pub")"
}
forge_pull_default() { pull_from default big "$1"; }
forge_pull_zstd() { pull_from zstd big "$1"; }
forge_pull_text() { pull_from text text "$1"; }
forge_push_default_durable() { DURABLE=1 push_to default-d "$out" "$1"; }
forge_push_zstd_durable() { DURABLE=1 push_to zstd-d "$out" "$1" --compression zstd; }
forge_push_text_durable() { DURABLE=1 push_to text-d "$text" "$1"; }
workload push forge forge_push_default
workload push_zstd forge forge_push_zstd
workload push_none forge forge_push_none
workload text_push forge forge_push_text
workload push_durable forge forge_push_default_durable
workload push_zstd_durable forge forge_push_zstd_durable
workload text_push_durable forge forge_push_text_durable
workload pull forge forge_pull_default
workload pull_zstd forge forge_pull_zstd
workload text_pull forge forge_pull_text

if [ "$USE_NIX" = 1 ]; then
  npath=$(nix-store --add "$data")
  ntext=$(nix-store --add "$text_data")
  nix_push_zstd() { time_ms nix_ copy --to "file://$work/nc-zstd-$1?compression=zstd" "$npath"; }
  nix_push_none() { time_ms nix_ copy --to "file://$work/nc-none-$1?compression=none" "$npath"; }
  nix_push_text() { time_ms nix_ copy --to "file://$work/nc-text-$1?compression=zstd" "$ntext"; }
  nix_push_zstd_durable() {
    DURABLE=1 time_ms nix_ copy --to "file://$work/nc-zstd-d-$1?compression=zstd" "$npath"
  }
  nix_push_text_durable() {
    DURABLE=1 time_ms nix_ copy --to "file://$work/nc-text-d-$1?compression=zstd" "$ntext"
  }
  nix_pull() {
    time_ms nix_ copy --no-check-sigs --from "file://$work/nc-zstd-1" --to "$work/nixstore-big-$1" "$npath"
  }
  nix_pull_text() {
    time_ms nix_ copy --no-check-sigs --from "file://$work/nc-text-1" --to "$work/nixstore-text-$1" "$ntext"
  }
  workload push nix nix_push_zstd
  workload push_none nix nix_push_none
  workload text_push nix nix_push_text
  workload push_durable nix nix_push_zstd_durable
  workload text_push_durable nix nix_push_text_durable
  workload pull nix nix_pull
  workload text_pull nix nix_pull_text
fi
measure
# Forge's default and forced-zstd pushes are both against Nix's zstd push.
if [ "$USE_NIX" = 1 ]; then
  NIX[push_zstd]=${NIX[push]}
  NIX[push_zstd_durable]=${NIX[push_durable]}
  NIX[pull_zstd]=${NIX[pull]}
  nix-store --delete "$npath" "$ntext" >/dev/null 2>&1 || true
fi
# The pulls really substituted (nothing built): round 1's pull stores have the paths.
for p in "default:$out" "zstd:$out" "text:$text"; do
  [ -e "$work/pull-${p%%:*}-1/store/${p#*:/forge/store/}/data" ] ||
    { echo "bench/cache.sh: forge pull (${p%%:*}) did not produce ${p#*:}" >&2; exit 1; }
done
# What the default push chose: none for random data, zstd for text.
narinfo_of() { local b=${1#/forge/store/}; echo "${b%%-*}.narinfo"; }
grep -q '^Compression: none' "$work/fc-default-1/$(narinfo_of "$out")" ||
  { echo "bench/cache.sh: the default push compressed random data" >&2; exit 1; }
grep -q '^Compression: zstd' "$work/fc-text-1/$(narinfo_of "$text")" ||
  { echo "bench/cache.sh: the default push did not compress text" >&2; exit 1; }

# --- forge's server: a 1,000-path closure, then forge's server against nginx ---------------------

# wait_for WHAT CMD...: retries CMD every 50 ms for at most 10 s; failing that, names WHAT.
wait_for() {
  local what=$1 i
  shift
  for i in $(seq 1 200); do
    if "$@" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench/cache.sh: $what not ready after 10 s" >&2
  return 1
}
# load ARGS...: runs the load client (failure fatal, named) and prints its key=value line.
load() {
  local line
  if ! line=$("$LOAD_BIN" "$@" 2>"$work/load.err"); then
    echo "bench/cache.sh: command failed: $LOAD_BIN $*" >&2
    cat "$work/load.err" >&2
    exit 1
  fi
  echo "$line"
}
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

served="$work/served"
printf 'bench-token-%s\n' "$$" >"$work/token"
"$FORGE_BIN" cache serve --dir "$served" --listen 127.0.0.1:0 --upload-token-file "$work/token" \
  >"$work/serve.url" 2>"$work/serve.log" &
pids+=($!)
has_url() { [ -s "$work/serve.url" ]; }
wait_for "forge cache serve (log: $work/serve.log)" has_url
furl=$(head -n1 "$work/serve.url")
export FORGE_CACHE_TOKEN
FORGE_CACHE_TOKEN=$(cat "$work/token")

mkdir "$work/small"
for i in $(seq 1 "$SMALL"); do printf 'small path %d of %s\n' "$i" "$work" >"$work/small/s$i"; done
"$FORGE_BIN" store add -q "$work"/small/s* >"$work/closure-top"
top=$("$FORGE_BIN" store add -q "$work/closure-top")
npaths=$("$FORGE_BIN" store closure "$top" | wc -l)
[ "$npaths" = $((SMALL + 1)) ] || { echo "bench/cache.sh: the closure has $npaths paths, not $((SMALL + 1))" >&2; exit 1; }
CLOSURE_PUSH=$(time_ms "$FORGE_BIN" copy -q --to "$furl" --secret-key "$work/k.sec" "$top")
requery() { time_ms "$FORGE_BIN" copy -q --to "$furl" "$top"; }
WORKLOADS=()
workload requery forge requery
measure
CLOSURE_REQUERY=${FORGE[requery]}
again=$("$FORGE_BIN" copy -q --json --to "$furl" "$top")
count='import json, sys; d = json.load(sys.stdin); n = lambda v: len(v) if isinstance(v, list) else v; print(n(d["pushed"]), n(d["present"]))'
[ "$(python3 -c "$count" <<<"$again")" = "0 $npaths" ] || { echo "bench/cache.sh: forge copy again did not find all $npaths paths present: $again" >&2; exit 1; }
(cd "$served" && ls | grep '\.narinfo$') >"$work/narinfos.list"
g=(); b=()
for i in $(seq 1 "$RUNS"); do
  l=$(load get "$furl" "$work/narinfos.list" "$npaths" 16); g+=("$(kv "$l" wall_ms)")
  l=$(load batch "$furl" "$work/narinfos.list")
  [ "$(kv "$l" found)" = "$(wc -l <"$work/narinfos.list")" ] || { echo "bench/cache.sh: batch query found too few: $l" >&2; exit 1; }
  b+=("$(kv "$l" wall_ms)")
done
CLOSURE_GETS=$(printf '%s\n' "${g[@]}" | median)
CLOSURE_BATCH=$(printf '%s\n' "${b[@]}" | median)

# The big path, uncompressed, into the same directory: one NAR of $MIB MiB.
"$FORGE_BIN" copy -q --compression none --to "file://$served" "$out"
big_digest=${out#/forge/store/}
nar_url=$(sed -n 's/^URL: //p' "$served/${big_digest:0:32}.narinfo")
(cd "$served" && ls | grep '\.narinfo$') >"$work/narinfos.list"

# nginx, if present (or installed on request), on a free port with everything in the work dir.
NGINX=""
if [ "$USE_NGINX" = 1 ]; then
  NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
  if [ -z "$NGINX" ] && [ "$INSTALL_NGINX" = 1 ]; then
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    $sudo_ apt-get install -y -q nginx-light >&2 || $sudo_ apt-get install -y -q nginx >&2
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  fi
  if [ -z "$NGINX" ]; then
    echo "nginx not found: forge's server measured alone (--install-nginx installs it)" >&2
  fi
fi
if [ -n "$NGINX" ]; then
  ng="$work/nginx"
  mkdir -p "$ng/tmp"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  {
    echo "worker_processes auto; daemon off; pid $ng/nginx.pid; error_log $ng/error.log warn;"
    [ "$(id -u)" != 0 ] || echo "user root;"  # the workers read the bench's files
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;"
    echo "  keepalive_requests 1000000; keepalive_timeout 65s;"
    # Every temporary directory this build of nginx knows, in the work dir (no root needed).
    for t in $("$NGINX" -V 2>&1 | grep -o -- '--http-[a-z-]*-temp-path' | sed 's/^--http-//; s/-temp-path$//' | sort -u); do
      echo "  ${t//-/_}_temp_path $ng/tmp/$t;"
    done
    echo "  types { text/x-nix-narinfo narinfo; text/x-nix-cache-info nix-cache-info; application/x-nix-nar nar zst xz; }"
    echo "  default_type application/octet-stream;"
    echo "  server { listen 127.0.0.1:$port; root $served; }"
    echo "}"
  } >"$ng/nginx.conf"
  "$NGINX" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" 2>>"$ng/error.log" &
  pids+=($!)
  nginx_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
  wait_for "nginx (log: $ng/error.log)" nginx_up
  nurl="http://127.0.0.1:$port"
  load get "$nurl" "$work/narinfos.list" 1 1 >/dev/null  # it serves the directory
fi

# srv KEY SERVER-URL LOAD-ARGS... / the figures: median over SRV_RUNS, servers alternating.
declare -A SRV
servers=(forge); [ -z "$NGINX" ] || servers+=(nginx)
url_of() { if [ "$1" = forge ]; then echo "$furl"; else echo "$nurl"; fi; }
for s in "${servers[@]}"; do load get "$(url_of "$s")" "$work/narinfos.list" 500 4 >/dev/null; done  # warm-up
declare -A acc
for r in $(seq 1 "$SRV_RUNS"); do
  for s in "${servers[@]}"; do
    u=$(url_of "$s")
    l=$(load get "$u" "$work/narinfos.list" "$SEQ" 1)
    acc[$s.seq_med]+=" $(kv "$l" median_us)"; acc[$s.seq_p99]+=" $(kv "$l" p99_us)"
    l=$(load get "$u" "$work/narinfos.list" "$CONC" 16)
    acc[$s.conc_med]+=" $(kv "$l" median_us)"; acc[$s.conc_p99]+=" $(kv "$l" p99_us)"
    acc[$s.conc_rps]+=" $(( CONC * 1000 / ($(kv "$l" wall_ms) + 1) ))"
    l=$(load nar "$u/$nar_url" 1); acc[$s.nar1]+=" $(kv "$l" mib_s)"
    l=$(load nar "$u/$nar_url" 8); acc[$s.nar8]+=" $(kv "$l" mib_s)"
  done
done
for k in "${!acc[@]}"; do SRV[$k]=$(tr ' ' '\n' <<<"${acc[$k]}" | grep . | median); done

printf '\nbench/cache.sh: %s MiB incompressible (text: base64), median of %s runs; forge %s, %s\n\n' "$MIB" "$RUNS" \
  "$("$FORGE_BIN" --version | cut -d' ' -f2)" "$( [ "$USE_NIX" = 1 ] && nix --version || echo 'no nix')"
printf '| workload | forge ms | nix ms | nix/forge |\n|---|---|---|---|\n'
for k in push push_zstd push_none text_push push_durable push_zstd_durable text_push_durable \
  pull pull_zstd text_pull; do
  f=${FORGE[$k]}; n=${NIX[$k]:-}
  if [ -n "$n" ] && [ "$f" -gt 0 ]; then
    r=$(awk -v n="$n" -v f="$f" 'BEGIN {printf "%.2fx", n / f}')
  else
    r=-; n=${n:--}
  fi
  printf '| %s | %s | %s | %s |\n' "$k" "$f" "$n" "$r"
done

printf '\n1,000-path closure (%s paths) through forge cache serve --dir; median of %s runs\n\n' "$npaths" "$RUNS"
printf '| workload | forge ms | goal |\n|---|---|---|\n'
printf '| push the closure over HTTP (first time, signed, zstd) | %s | - |\n' "$CLOSURE_PUSH"
printf '| forge copy --to http://… again (all present: existence checks) | %s | < 300 |\n' "$CLOSURE_REQUERY"
printf '| %s narinfo GETs, 16 at once (http_load) | %s | < 300 |\n' "$npaths" "$CLOSURE_GETS"
printf '| batch query POST /_forge/narinfos, %s digests | %s | - |\n' "$(wc -l <"$work/narinfos.list")" "$CLOSURE_BATCH"

printf '\nforge cache serve vs %s on the same directory; median of %s runs; %s sequential and %s (16 clients) narinfo GETs, a %s MiB NAR\n\n' \
  "$( [ -n "$NGINX" ] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo 'no nginx')" "$SRV_RUNS" "$SEQ" "$CONC" "$MIB"
printf '| workload | forge | nginx | forge cost vs nginx (goal <= 1.5x) |\n|---|---|---|---|\n'
row() { # LABEL KEY UNIT HIGHER-IS-BETTER
  local f=${SRV[forge.$2]} n=${SRV[nginx.$2]:-} r=-
  if [ -n "$n" ]; then
    r=$(awk -v f="$f" -v n="$n" -v hb="$4" 'BEGIN {x = hb ? n / f : f / n; printf "%.2fx%s", x, (x <= 1.5 ? "" : " (over)")}')
  fi
  printf '| %s | %s %s | %s | %s |\n' "$1" "$f" "$3" "$( [ -n "$n" ] && echo "$n $3" || echo -)" "$r"
}
row "narinfo latency, sequential, median" seq_med us 0
row "narinfo latency, sequential, p99" seq_p99 us 0
row "narinfo latency, 16 clients, median" conc_med us 0
row "narinfo latency, 16 clients, p99" conc_p99 us 0
row "narinfo requests/s, 16 clients" conc_rps req/s 1
row "NAR throughput, 1 download" nar1 MiB/s 1
row "NAR throughput, 8 at once (sum)" nar8 MiB/s 1
