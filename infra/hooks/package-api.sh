#!/bin/sh
# Builds the static Linux x64 (musl) custom-handler binary and stages the Functions package
# (host.json, one folder per function, the executable) where azure.yaml's `dist` points.
set -eu

target=x86_64-unknown-linux-musl
out="${COSMOSPARK_PACKAGE_DIR:-target/azd/api}"

if command -v rustup >/dev/null 2>&1; then
  rustup target add "$target" >/dev/null
fi

echo "Building cosmospark for $target"
cargo build --release --locked --target "$target"

echo "Validating function.json files against the handlers"
cargo run --locked --quiet -- check

echo "Staging the package in $out"
rm -rf "$out"
cargo run --locked --quiet -- package --dir "$out"
