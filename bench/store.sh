#!/usr/bin/env bash
# bench/store.sh — forge's store against Nix on the same trees, in the same run.
#
# Workloads (see bench/README.md):
#   1. hash a 512 MiB + 2,000-file tree   (forge hash path  vs  nix hash path / nix-hash)
#   2. add that tree to a fresh store      (forge store add  vs  nix-store --add), and re-add (no-op)
#   3. store info / closure latency on a path whose closure has 100 paths
#   4. garbage-collect 10,000 dead paths   (forge store gc   vs  nix-store --gc)
#
# Nix is optional: without nix-store on PATH only forge is measured.
#
# Usage: bench/store.sh [--quick] [--install-hyperfine] [--no-nix] [--no-nix-gc] [--runs N]
# Environment: BENCH_DIR (default /var/tmp/forge-bench), FORGE_BIN (forge binary).
set -Eeuo pipefail
# Fail loudly: name the command that failed (set -E: in functions too).
trap 'echo "bench/store.sh: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() {
  cat <<'EOF'
usage: bench/store.sh [options]

  --quick              smoke run: 64 MiB file, 200 small files, 1,000 GC paths, fewer runs
  --runs N             timed runs per command for the hash/add workloads (default 5, quick 3)
  --install-hyperfine  apt-get install hyperfine if it is missing (otherwise: built-in timing loop)
  --no-hyperfine       use the built-in timing loop even if hyperfine is installed
  --no-nix             measure forge only, even if Nix is installed
  --no-nix-gc          skip the Nix GC workload (nix-store --gc deletes *every* dead path
                       in /nix/store, not only the benchmark's)
  -h, --help           this text

environment:
  BENCH_DIR   work directory; the generated trees are cached here (default /var/tmp/forge-bench)
  FORGE_BIN   the forge binary (default: forge on PATH, else $CARGO_TARGET_DIR/release/forge,
              else <repo>/target/release/forge)
EOF
}

QUICK=0
RUNS=""
INSTALL_HF=0
USE_HF=1
USE_NIX=1
NIX_GC=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    --runs=*) RUNS="${1#--runs=}" ;;
    --install-hyperfine) INSTALL_HF=1 ;;
    --no-hyperfine) USE_HF=0 ;;
    --no-nix) USE_NIX=0 ;;
    --no-nix-gc) NIX_GC=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "store.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  BIG_MIB=64; SMALL_FILES=200; GC_PATHS=1000; : "${RUNS:=3}"; LAT_RUNS=20; GC_RUNS=1
  TREE_TAG=quick
else
  BIG_MIB=512; SMALL_FILES=2000; GC_PATHS=10000; : "${RUNS:=5}"; LAT_RUNS=50; GC_RUNS=3
  TREE_TAG=full
fi
CHAIN_LEN=100
case "$RUNS" in ''|*[!0-9]*|0) echo "store.sh: --runs must be a positive integer" >&2; exit 2 ;; esac

BENCH_DIR="${BENCH_DIR:-/var/tmp/forge-bench}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'store.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
if [ -n "${FORGE_BIN:-}" ]; then
  FORGE="$FORGE_BIN"
elif command -v forge >/dev/null 2>&1; then
  FORGE="$(command -v forge)"
elif [ -x "${CARGO_TARGET_DIR:-$REPO/target}/release/forge" ]; then
  FORGE="${CARGO_TARGET_DIR:-$REPO/target}/release/forge"
elif [ -x "$REPO/target/release/forge" ]; then
  FORGE="$REPO/target/release/forge"
else
  die "no forge binary: build it (cargo build --release -p forge-cli) or set FORGE_BIN"
fi
[ -x "$FORGE" ] || die "FORGE_BIN=$FORGE is not executable"
"$FORGE" --version >/dev/null 2>&1 || die "$FORGE --version failed"

for t in awk head cat find xargs sort date mktemp; do
  command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done

HAVE_NIX=0
if [ "$USE_NIX" = 1 ] && command -v nix-store >/dev/null 2>&1; then
  if nix-store -q --version >/dev/null 2>&1 || nix-store --version >/dev/null 2>&1; then
    HAVE_NIX=1
  fi
fi
NIXCMD=(nix --extra-experimental-features nix-command)
HAVE_NIX_CLI=0     # the `nix` command (nix hash path, nix path-info)
HAVE_NIX_INST=0    # nix-instantiate (used to build the reference chain with builtins.toFile)
if [ "$HAVE_NIX" = 1 ]; then
  command -v nix >/dev/null 2>&1 && "${NIXCMD[@]}" --version >/dev/null 2>&1 && HAVE_NIX_CLI=1
  command -v nix-instantiate >/dev/null 2>&1 && HAVE_NIX_INST=1
  [ -w /nix/store ] || [ "$(id -u)" = 0 ] || note "warning: /nix/store is not writable by you; Nix add/GC may fail"
fi

if [ "$USE_HF" = 1 ] && ! command -v hyperfine >/dev/null 2>&1; then
  if [ "$INSTALL_HF" = 0 ] && [ -t 0 ] && [ -t 2 ] && command -v apt-get >/dev/null 2>&1; then
    printf 'hyperfine is not installed. Install it with apt-get now? [y/N] ' >&2
    read -r ans || ans=n
    case "$ans" in y|Y|yes) INSTALL_HF=1 ;; esac
  fi
  if [ "$INSTALL_HF" = 1 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y hyperfine >&2 || note "apt-get install hyperfine failed; using the built-in loop"
  fi
fi
HAVE_HF=0
[ "$USE_HF" = 1 ] && command -v hyperfine >/dev/null 2>&1 && HAVE_HF=1

# ---------------------------------------------------------------- work dir
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
TREE="$BENCH_DIR/tree-$TREE_TAG"
TREE_OK="$BENCH_DIR/tree-$TREE_TAG.ok"     # marker outside the tree, so it is not hashed
RUN_DIR="$(mktemp -d "$BENCH_DIR/run.XXXXXX")"
RESULTS="$RUN_DIR/results.tsv"
: > "$RESULTS"

NIX_TREE_PATH=""       # the tree added to /nix/store, deleted on exit
NIX_CHAIN=()           # the chain paths in /nix/store, deleted on exit
cleanup() {
  local rc=$?
  set +e
  if [ "$HAVE_NIX" = 1 ]; then
    [ -n "$NIX_TREE_PATH" ] && nix-store --delete "$NIX_TREE_PATH" >/dev/null 2>&1
    if [ "${#NIX_CHAIN[@]}" -gt 0 ]; then
      # top first, so that nothing still valid refers to what we delete
      local i
      for ((i = ${#NIX_CHAIN[@]} - 1; i >= 0; i--)); do
        nix-store --delete "${NIX_CHAIN[$i]}" >/dev/null 2>&1
      done
    fi
    [ -f "$RUN_DIR/nix-gc-paths" ] && xargs -r nix-store --delete < "$RUN_DIR/nix-gc-paths" >/dev/null 2>&1
  fi
  # forge stores may hold read-only directories
  [ -d "$RUN_DIR" ] && { chmod -R u+w "$RUN_DIR" 2>/dev/null; rm -rf "$RUN_DIR"; }
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- timing
# measure NAME RUNS [PREPARE] -- CMD...
# Records "NAME<TAB>mean<TAB>stddev<TAB>min<TAB>runs" (seconds) in $RESULTS and prints a line.
# PREPARE (a shell snippet, may be empty) runs before every timed run, untimed.
measure() {
  local name="$1" runs="$2" prepare="$3"; shift 4
  local mean sd min
  if [ "$HAVE_HF" = 1 ]; then
    local csv="$RUN_DIR/hf.csv"
    local args=(--runs "$runs" --style none --export-csv "$csv")
    if [ -n "$prepare" ]; then
      args+=(--prepare "$prepare")
    else
      args+=(--warmup 1 -N)
    fi
    local cmd
    cmd="$(printf '%q ' "$@")"
    hyperfine "${args[@]}" "$cmd" >/dev/null 2>"$RUN_DIR/hf.err" \
      || { cat "$RUN_DIR/hf.err" >&2; die "hyperfine failed for: $name"; }
    # command,mean,stddev,median,user,system,min,max
    read -r mean sd min < <(awk -F, 'NR==2 {print $2, ($3==""?0:$3), $7}' "$csv")
  else
    local i t0 t1 times=()
    if [ -z "$prepare" ]; then "$@" >/dev/null 2>&1 || die "command failed: $*"; fi   # warm-up
    for ((i = 0; i < runs; i++)); do
      if [ -n "$prepare" ]; then bash -c "$prepare" >/dev/null 2>&1 || die "prepare failed: $prepare"; fi
      t0=$(date +%s.%N)
      "$@" >/dev/null 2>&1 || die "command failed: $*"
      t1=$(date +%s.%N)
      times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')")
    done
    read -r mean sd min < <(printf '%s\n' "${times[@]}" | awk '
      {x[NR] = $1; s += $1; if (NR == 1 || $1 < m) m = $1}
      END {mu = s / NR; for (i = 1; i <= NR; i++) v += (x[i] - mu) ^ 2;
           printf "%.6f %.6f %.6f\n", mu, (NR > 1 ? sqrt(v / (NR - 1)) : 0), m}')
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$mean" "$sd" "$min" "$runs" >> "$RESULTS"
  printf '    %-44s %s ± %s (min %s, %s runs)\n' "$name" "$(fmt "$mean")" "$(fmt "$sd")" "$(fmt "$min")" "$runs" >&2
}

# One timed run of a command whose output we need (GC); prints the elapsed seconds.
time_once() {
  local out="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$out" 2>&1 || { cat "$out" >&2; die "command failed: $*"; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}'
}

record_times() {  # NAME t1 t2 ... -> results line
  local name="$1"; shift
  local stats mean sd min
  stats=$(printf '%s\n' "$@" | awk '
    {x[NR] = $1; s += $1; if (NR == 1 || $1 < m) m = $1}
    END {mu = s / NR; for (i = 1; i <= NR; i++) v += (x[i] - mu) ^ 2;
         printf "%.6f %.6f %.6f\n", mu, (NR > 1 ? sqrt(v / (NR - 1)) : 0), m}')
  read -r mean sd min <<<"$stats"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$mean" "$sd" "$min" "$#" >> "$RESULTS"
  printf '    %-44s %s ± %s (min %s, %s runs)\n' "$name" "$(fmt "$mean")" "$(fmt "$sd")" "$(fmt "$min")" "$#" >&2
}

fmt() {  # seconds -> "1.234 s" or "12.3 ms"
  awk -v s="$1" 'BEGIN {
    if (s == "") { print "-"; exit }
    if (s >= 1) printf "%.3f s", s; else if (s >= 0.01) printf "%.1f ms", s * 1000;
    else printf "%.2f ms", s * 1000 }'
}

get() { awk -F'\t' -v n="$1" '$1 == n {print $2}' "$RESULTS" | tail -n 1; }

# ---------------------------------------------------------------- header
log "forge store benchmark ($TREE_TAG): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note "forge:     $FORGE ($("$FORGE" --version 2>&1 | head -n 1))"
if [ "$HAVE_NIX" = 1 ]; then
  note "nix:       $(nix-store --version 2>&1 | head -n 1)"
else
  note "nix:       not installed (or --no-nix): forge only"
fi
note "timing:    $([ "$HAVE_HF" = 1 ] && echo "hyperfine $(hyperfine --version | awk '{print $2}')" || echo "built-in loop (date +%s.%N)")"
note "machine:   $(nproc) cores, $(uname -sr), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
note "work dir:  $BENCH_DIR ($(df -PT "$BENCH_DIR" | awk 'NR==2 {print $2}'))"
[ "$HAVE_NIX" = 1 ] && note "nix store: /nix/store ($(df -PT /nix/store | awk 'NR==2 {print $2}'))"

# ---------------------------------------------------------------- 1. the tree
if [ -f "$TREE_OK" ] && [ "$(cat "$TREE_OK")" = "$BIG_MIB $SMALL_FILES" ] && [ -d "$TREE" ]; then
  log "tree: reusing $TREE"
else
  log "tree: generating $TREE ($BIG_MIB MiB random file + $SMALL_FILES small files)"
  rm -f "$TREE_OK"
  chmod -R u+w "$TREE" 2>/dev/null || true
  rm -rf "$TREE"
  mkdir -p "$TREE/small"
  head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom > "$TREE/big.bin"
  # SMALL_FILES files of 100..899 random bytes in a 3-level tree: small/dNN/eN/fNNNN
  i=0
  while [ "$i" -lt "$SMALL_FILES" ]; do
    d="$TREE/small/d$(printf %02d $((i / 100)))/e$(((i / 20) % 5))"
    [ -d "$d" ] || mkdir -p "$d"
    head -c "$((100 + RANDOM % 800))" /dev/urandom > "$d/f$(printf %04d "$i")"
    i=$((i + 1))
  done
  sync
  echo "$BIG_MIB $SMALL_FILES" > "$TREE_OK"
fi
TREE_FILES=$(find "$TREE" -type f | wc -l)
TREE_BYTES=$(du -sb "$TREE" | awk '{print $1}')
note "$TREE_FILES files, $((TREE_BYTES / 1048576)) MiB"
log "warming the page cache: cat every file of the tree to /dev/null"
find "$TREE" -type f -print0 | xargs -0 cat > /dev/null
CACHE_NOTE="warm (tree cat to /dev/null before timing; hyperfine also does 1 untimed warm-up run per read-only command)"

# ---------------------------------------------------------------- 2. hash
log "hash: NAR hash of the tree"
# correctness first: forge's sha256 must equal Nix's
if [ "$HAVE_NIX" = 1 ] && [ "$HAVE_NIX_CLI" = 1 ]; then
  f_sri=$("$FORGE" hash path --algo sha256 --format sri "$TREE")
  n_sri=$("${NIXCMD[@]}" hash path "$TREE")
  if [ "$f_sri" = "$n_sri" ]; then note "forge sha256 == nix hash path: $n_sri"
  else note "MISMATCH: forge $f_sri, nix $n_sri"; fi
fi
measure "hash: forge (blake3)" "$RUNS" "" -- "$FORGE" hash path "$TREE"
measure "hash: forge --algo sha256" "$RUNS" "" -- "$FORGE" hash path --algo sha256 "$TREE"
if [ "$HAVE_NIX" = 1 ]; then
  [ "$HAVE_NIX_CLI" = 1 ] && measure "hash: nix hash path (sha256)" "$RUNS" "" -- "${NIXCMD[@]}" hash path "$TREE"
  command -v nix-hash >/dev/null 2>&1 && measure "hash: nix-hash --type sha256" "$RUNS" "" -- nix-hash --type sha256 "$TREE"
fi

# ---------------------------------------------------------------- 3. add
log "add: the tree into a fresh store"
FROOT="$RUN_DIR/forge-add"
# forge: a fresh FORGE_ROOT for every run (removing the old one is untimed)
measure "add: forge store add (fresh root)" "$RUNS" \
  "chmod -R u+w '$FROOT' 2>/dev/null; rm -rf '$FROOT'" -- "$FORGE" --root "$FROOT" store add "$TREE"
# leave one populated root for the re-add
chmod -R u+w "$FROOT" 2>/dev/null || true; rm -rf "$FROOT"
FPATH=$("$FORGE" --root "$FROOT" store add "$TREE")
measure "re-add: forge store add (already present)" "$RUNS" "" -- "$FORGE" --root "$FROOT" store add "$TREE"
if [ "$HAVE_NIX" = 1 ]; then
  # Nix dedups by content, so a second add of the same tree is a no-op. Between runs we
  # `nix-store --delete` the (unrooted) path, untimed: every run then adds the *identical*
  # tree to a store that does not hold it — the same bytes forge hashes and copies. (Adding a
  # tree that differs by one byte per run would need a fresh 512 MiB copy per run and would
  # leave the old paths behind.) The Nix DB itself is not fresh; forge's root is, so forge
  # also pays for creating its database on every run.
  NIX_TREE_PATH=$(nix-store --add "$TREE")
  measure "add: nix-store --add (path deleted between runs)" "$RUNS" \
    "nix-store --delete '$NIX_TREE_PATH' || true" -- nix-store --add "$TREE"
  NIX_TREE_PATH=$(nix-store --add "$TREE")
  measure "re-add: nix-store --add (already present)" "$RUNS" "" -- nix-store --add "$TREE"
  nix-store --delete "$NIX_TREE_PATH" >/dev/null 2>&1 && NIX_TREE_PATH=""
fi
# the 512 MiB forge store is not needed any more
chmod -R u+w "$FROOT" 2>/dev/null || true; rm -rf "$FROOT"

# ---------------------------------------------------------------- 4. info / closure
log "info/closure: a path whose closure has $CHAIN_LEN paths"
# Shape (same in both stores): link-0 is a plain file; link-i (i >= 1) names link-(i-1) and
# link-0, so the top path has 2 direct references and a closure of CHAIN_LEN paths.
QROOT="$RUN_DIR/forge-query"
CHAIN_SRC="$RUN_DIR/chain"
mkdir -p "$CHAIN_SRC"
echo "chain root $RUN_DIR" > "$CHAIN_SRC/link-0"
FP0=$("$FORGE" --root "$QROOT" store add "$CHAIN_SRC/link-0")
prev="$FP0"
for ((i = 1; i < CHAIN_LEN; i++)); do
  printf 'link %d -> %s\nroot %s\n' "$i" "$prev" "$FP0" > "$CHAIN_SRC/link-$i"
  prev=$("$FORGE" --root "$QROOT" store add "$CHAIN_SRC/link-$i")
done
FTOP="$prev"
n=$("$FORGE" --root "$QROOT" store closure "$FTOP" | wc -l)
[ "$n" = "$CHAIN_LEN" ] || die "forge closure of $FTOP has $n paths, expected $CHAIN_LEN"
note "forge: $FTOP (closure $n paths)"
measure "info: forge store info" "$LAT_RUNS" "" -- "$FORGE" --root "$QROOT" store info "$FTOP"
measure "closure: forge store closure" "$LAT_RUNS" "" -- "$FORGE" --root "$QROOT" store closure "$FTOP"

if [ "$HAVE_NIX" = 1 ]; then
  # `nix-store --add` does not scan for references, but builtins.toFile records a reference
  # for every store path in the string's context — so the same chain, with real references,
  # needs only an evaluation (no build).
  if [ "$HAVE_NIX_INST" = 1 ]; then
    cat > "$RUN_DIR/chain.nix" <<EOF
let
  n = $CHAIN_LEN;
  root = builtins.toFile "link-0" "chain root $RUN_DIR\n";
  go = i: prev: if i >= n then [ ]
    else let p = builtins.toFile "link-\${toString i}" "link \${toString i} -> \${prev}\nroot \${root}\n";
         in [ p ] ++ go (i + 1) p;
in [ root ] ++ go 1 root
EOF
    mapfile -t NIX_CHAIN < <(nix-instantiate --eval --strict --read-write-mode \
      -E "builtins.concatStringsSep \"\\n\" (import $RUN_DIR/chain.nix)" | sed -e 's/^"//' -e 's/"$//' | sed 's/\\n/\n/g')
    NTOP="${NIX_CHAIN[${#NIX_CHAIN[@]} - 1]}"
    n=$(nix-store -qR "$NTOP" | wc -l)
    if [ "$n" = "$CHAIN_LEN" ]; then
      note "nix:   $NTOP (closure $n paths, built with builtins.toFile)"
      [ "$HAVE_NIX_CLI" = 1 ] && measure "info: nix path-info" "$LAT_RUNS" "" -- "${NIXCMD[@]}" path-info "$NTOP"
      measure "info: nix-store -q --references" "$LAT_RUNS" "" -- nix-store -q --references "$NTOP"
      measure "closure: nix-store -qR" "$LAT_RUNS" "" -- nix-store -qR "$NTOP"
      [ "$HAVE_NIX_CLI" = 1 ] && measure "closure: nix path-info -r" "$LAT_RUNS" "" -- "${NIXCMD[@]}" path-info -r "$NTOP"
    else
      note "nix: the toFile chain has a closure of $n paths, not $CHAIN_LEN; skipping the Nix side"
    fi
  else
    note "nix: no nix-instantiate, cannot build a chain with references; skipping the Nix side"
  fi
fi

# ---------------------------------------------------------------- 5. GC
log "gc: $GC_PATHS dead paths ($GC_RUNS runs; populating is untimed)"
GC_SRC="$RUN_DIR/gc-src"
make_gc_files() {  # run tag -> $GC_SRC with GC_PATHS unique tiny files
  rm -rf "$GC_SRC"; mkdir -p "$GC_SRC"
  (cd "$GC_SRC" && awk -v n="$GC_PATHS" -v tag="$1" 'BEGIN {
     for (i = 0; i < n; i++) { f = sprintf("dead-%05d", i); print "dead " i " " tag > f; close(f) } }')
}
GROOT="$RUN_DIR/forge-gc"
ftimes=()
for ((r = 0; r < GC_RUNS; r++)); do
  chmod -R u+w "$GROOT" 2>/dev/null || true; rm -rf "$GROOT"
  make_gc_files "forge $RUN_DIR $r"
  t0=$(date +%s.%N)
  (cd "$GC_SRC" && find . -type f -name 'dead-*' | sort | xargs -n 1000 "$FORGE" --root "$GROOT" store add) > "$RUN_DIR/forge-gc-added"
  t1=$(date +%s.%N)
  [ "$r" = 0 ] && note "forge: added $(wc -l < "$RUN_DIR/forge-gc-added") paths in $(fmt "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')") (batches of 1000, untimed)"
  sync
  t=$(time_once "$RUN_DIR/forge-gc.out" "$FORGE" --root "$GROOT" store gc --json)
  del=$(grep -c '"path"' "$RUN_DIR/forge-gc.out" || true)
  [ "$del" = "$GC_PATHS" ] || die "forge gc deleted $del paths, expected $GC_PATHS"
  ftimes+=("$t")
done
record_times "gc: forge store gc" "${ftimes[@]}"
chmod -R u+w "$GROOT" 2>/dev/null || true; rm -rf "$GROOT"

if [ "$HAVE_NIX" = 1 ] && [ "$NIX_GC" = 1 ]; then
  # nix-store --gc deletes every dead path in /nix/store: collect once first (untimed) so
  # that only the benchmark's paths are dead when we time it. Our own chain and tree are
  # unrooted, so they go in that first collection.
  note "nix: nix-store --gc once, untimed, so that only the benchmark's paths are dead"
  nix-store --gc >/dev/null 2>&1 || die "nix-store --gc failed"
  NIX_CHAIN=(); NIX_TREE_PATH=""
  ntimes=()
  for ((r = 0; r < GC_RUNS; r++)); do
    make_gc_files "nix $RUN_DIR $r"
    t0=$(date +%s.%N)
    (cd "$GC_SRC" && find "$GC_SRC" -type f -name 'dead-*' | sort | xargs -n 1000 nix-store --add) > "$RUN_DIR/nix-gc-paths"
    t1=$(date +%s.%N)
    [ "$r" = 0 ] && note "nix:   added $(wc -l < "$RUN_DIR/nix-gc-paths") paths in $(fmt "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')") (batches of 1000, untimed)"
    sync
    t=$(time_once "$RUN_DIR/nix-gc.out" nix-store --gc)
    del=$(awk '/store paths deleted/ {print $1}' "$RUN_DIR/nix-gc.out")
    [ "$del" = "$GC_PATHS" ] || note "warning: nix-store --gc deleted ${del:-?} paths, expected $GC_PATHS"
    rm -f "$RUN_DIR/nix-gc-paths"
    ntimes+=("$t")
  done
  record_times "gc: nix-store --gc" "${ntimes[@]}"
elif [ "$HAVE_NIX" = 1 ]; then
  note "nix: GC skipped (--no-nix-gc)"
fi

# ---------------------------------------------------------------- table
ratio() {  # nix forge -> nix/forge
  if [ -z "$1" ] || [ -z "$2" ]; then echo "-"; return; fi
  awk -v n="$1" -v f="$2" 'BEGIN {printf "%.2fx", n / f}'
}
row() {  # label forge-key nix-key
  local f n
  f=$(get "$2"); n=""
  [ -n "$3" ] && n=$(get "$3")
  printf '| %-52s | %10s | %10s | %7s |\n' "$1" "$(fmt "$f")" "$( [ -n "$n" ] && fmt "$n" || echo -)" "$(ratio "$n" "$f")"
}
SIZE_LABEL="$BIG_MIB MiB + $SMALL_FILES files"
echo
echo "forge vs Nix — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -sr), tree $SIZE_LABEL, page cache $( [ -n "$CACHE_NOTE" ] && echo warm || echo cold)"
echo "mean wall-clock time; ratio = nix / forge (> 1: forge is faster)"
echo
printf '| %-52s | %10s | %10s | %7s |\n' "workload" "forge" "nix" "ratio"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..9})"
row "hash path: forge blake3 vs nix hash path (sha256)" "hash: forge (blake3)" "hash: nix hash path (sha256)"
row "hash path: forge sha256 vs nix hash path (sha256)" "hash: forge --algo sha256" "hash: nix hash path (sha256)"
row "hash path: forge blake3 vs nix-hash --type sha256" "hash: forge (blake3)" "hash: nix-hash --type sha256"
row "store add, fresh store ($SIZE_LABEL)" "add: forge store add (fresh root)" "add: nix-store --add (path deleted between runs)"
row "store add, already present (no-op)" "re-add: forge store add (already present)" "re-add: nix-store --add (already present)"
row "info: forge store info vs nix path-info" "info: forge store info" "info: nix path-info"
row "info: forge store info vs nix-store -q --references" "info: forge store info" "info: nix-store -q --references"
row "closure ($CHAIN_LEN paths): vs nix-store -qR" "closure: forge store closure" "closure: nix-store -qR"
row "closure ($CHAIN_LEN paths): vs nix path-info -r" "closure: forge store closure" "closure: nix path-info -r"
row "gc of $GC_PATHS dead paths" "gc: forge store gc" "gc: nix-store --gc"
echo
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r),"
echo "         $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), work dir on $(df -PT "$BENCH_DIR" | awk 'NR==2 {print $2}')"
echo "page cache: $CACHE_NOTE"
echo "runs: hash/add $RUNS, info/closure $LAT_RUNS, gc $GC_RUNS; timing: $([ "$HAVE_HF" = 1 ] && echo hyperfine || echo 'built-in loop')"
[ "$HAVE_NIX" = 1 ] || echo "nix: not installed — forge only"
echo
echo "all rows (mean ± stddev, min):"
awk -F'\t' '
  function f(s) { if (s >= 1) return sprintf("%.3f s", s); if (s >= 0.01) return sprintf("%.1f ms", s * 1000);
                  return sprintf("%.2f ms", s * 1000) }
  {printf "  %-50s %10s ± %-9s min %-10s (%d runs)\n", $1, f($2), f($3), f($4), $5}' "$RESULTS"
