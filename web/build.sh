#!/bin/sh
# Rebuilds web/assets/ (committed) from web/src/ with the pinned esbuild.
# Usage: web/build.sh (installs web/node_modules on first use; needs Node 18+).
set -eu
cd "$(dirname "$0")"
if [ ! -x node_modules/.bin/esbuild ]; then
  npm install --no-package-lock --no-audit --no-fund --ignore-scripts
fi
esbuild=node_modules/.bin/esbuild
"$esbuild" src/main.js --bundle --format=esm --target=es2020 --minify \
  --legal-comments=linked --charset=utf8 --log-level=warning --outfile=assets/app.js
"$esbuild" src/styles.css --bundle --minify --loader:.png=file --asset-names=[name] \
  --legal-comments=none --log-level=warning --outfile=assets/app.css
cp src/favicon.svg assets/favicon.svg
