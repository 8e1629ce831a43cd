#!/usr/bin/env bash
# `make lint-schema`: the OpenAPI schema through Redocly (recommended rules), Spectral (OAS and
# OWASP rules) and openapi-typescript + `tsc --strict` on usage.ts. Tools are pinned in
# package.json / package-lock.json and installed into tests/schema/node_modules (git-ignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if [ ! -x node_modules/.bin/redocly ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
mkdir -p build
"$root/.venv/bin/python" "$root/manage.py" spectacular --validate --fail-on-warn \
  --format openapi-json --file build/schema.json
echo "-- redocly lint"
node_modules/.bin/redocly lint build/schema.json --config redocly.yaml
echo "-- spectral lint (spectral:oas + OWASP)"
node_modules/.bin/spectral lint build/schema.json --ruleset .spectral.yaml --fail-severity error \
  --display-only-failures
echo "-- openapi-typescript + tsc --strict"
node_modules/.bin/openapi-typescript build/schema.json -o build/api.d.ts --silent
node_modules/.bin/tsc -p tsconfig.json
echo "schema lint passed"
