#!/usr/bin/env bash
# Records `src/link/hot-symbols.txt`, the link order of the functions `cosmospark serve` runs: first
# those from exec to idle (start-up and the host's readiness `GET /`), then those one envelope
# invocation adds. src/link/build.rs hands the file to the linker (`--symbol-ordering-file`) so this code
# sits on a few contiguous pages instead of being scattered over the whole executable: the
# kernel maps a file page and its neighbours on every fault, so scattered start-up code keeps
# most of the text resident (see docs/benchmarks.md, "What holds memory at idle in `serve`").
#
# Usage: src/link/record-hot-symbols.sh [path/to/cosmospark ...]
# Without arguments it builds and records both optimised builds: `cargo build --release` (what
# users run) and the `bench` profile (what `cargo bench` measures), whose symbol names differ
# because a symbol's hash covers the build profile; the file lists both builds' names.
# Needs valgrind (callgrind) and curl. Symbols missing from a later build are skipped by the
# linker, so a stale file loses the effect silently (`cargo bench --bench runtime` reports how
# many of the listed names the measured binary has). Symbol names carry a hash of the crate's
# build metadata, which any dependency change alters: record again after every change to
# Cargo.toml or Cargo.lock, and after toolchain upgrades.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  # Both profiles write target/release/cosmospark: keep a copy of each.
  cargo build --release --bin cosmospark
  cp target/release/cosmospark "$work/cosmospark-release"
  cargo bench --bench runtime --no-run
  cp target/release/cosmospark "$work/cosmospark-bench"
  binaries=("$work/cosmospark-release" "$work/cosmospark-bench")
fi

envelope='{"Data":{"req":{"Url":"http://localhost:7071/api/round","Method":"GET","Query":{},
"Headers":{"Accept":["*/*"],"Host":["localhost:7071"]},"Params":{}}},
"Metadata":{"sys":{"MethodName":"GetRound","UtcNow":"2024-05-14T15:14:15.128919Z"}}}'

# Runs `serve` under callgrind, sends `GET /` (and the envelope when $2 is set), stops it and
# prints the functions of the executable it ran.
record() {
  local binary="$1" name="$2" invoke="${3:-}"
  RUST_LOG=warn valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$work/$name.out" "$binary" serve --port 0 >"$work/$name.log" 2>&1 &
  local pid=$! port=""
  for _ in $(seq 1 600); do
    port="$(sed -n 's|^Listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/$name.log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "serve did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$port/" >/dev/null
  if [ -n "$invoke" ]; then
    curl -sf -H 'content-type: application/json' --data "$envelope" \
      "http://127.0.0.1:$port/GetRound" >/dev/null
  fi
  kill -INT "$pid"
  wait "$pid" || true
  # Callgrind marks recursion levels with a `'N` suffix and names functions it has no symbol
  # for by address: keep symbol names only, once each.
  awk -v bin="$binary" '/^ob=/ { ob = substr($0, 4) } /^fn=/ && ob == bin { print substr($0, 4) }' \
    "$work/$name.out" | sed "s/'[0-9]*$//" | grep -v -e '^0x' -e '^(below main)$' | awk '!seen[$0]++'
}

: >"$work/all.txt"
for binary in "${binaries[@]}"; do
  binary="$(realpath "$binary")"
  record "$binary" idle >"$work/idle.txt"
  record "$binary" invoke 1 >"$work/invoke.txt"
  {
    cat "$work/idle.txt"
    grep -vxF -f "$work/idle.txt" "$work/invoke.txt" || true
  } >>"$work/all.txt"
  echo "$binary: $(wc -l <"$work/idle.txt") functions at idle, $(wc -l <"$work/invoke.txt") with one invocation"
done
awk '!seen[$0]++' "$work/all.txt" >src/link/hot-symbols.txt
echo "src/link/hot-symbols.txt: $(wc -l <src/link/hot-symbols.txt) functions"
