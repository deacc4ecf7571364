#!/bin/sh
# Rebuilds the committed bundle in web/assets/ from web/src/ with the pinned esbuild.
# Usage: web/build.sh [OUT_DIR]   (OUT_DIR defaults to web/assets; tests build elsewhere and
# compare). Installs web/node_modules on first use; needs Node 18+.
set -eu
cd "$(dirname "$0")"
out=${1:-assets}
if [ ! -x node_modules/.bin/esbuild ] || [ ! -d node_modules/@azure/web-pubsub-client ]; then
  npm install --no-package-lock --no-audit --no-fund --ignore-scripts
fi
mkdir -p "$out"
esbuild=node_modules/.bin/esbuild
"$esbuild" src/main.js --bundle --format=esm --target=es2020 --minify \
  --legal-comments=linked --charset=utf8 --log-level=warning --outfile="$out/app.js"
"$esbuild" src/styles.css --bundle --minify --loader:.png=file --asset-names=[name] \
  --legal-comments=none --log-level=warning --outfile="$out/app.css"
cp src/favicon.svg "$out/favicon.svg"
