#!/usr/bin/env bash
# Vendor the web console's one third-party file: htmx, copied from its npm package (no build step,
# nothing fetched at run time). Re-run after changing HTMX_VERSION; it rewrites VENDORED.md with the
# version and sha256 that tests/test_ui.py checks the committed file against.
set -euo pipefail

HTMX_VERSION=${HTMX_VERSION:-2.0.11}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/emulator/ui/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null
tar -xzf "htmx.org-$HTMX_VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/htmx.min.js "$DEST/htmx.min.js"
cp package/LICENSE "$DEST/htmx.LICENSE"
SHA=$(sha256sum "$DEST/htmx.min.js" | cut -d' ' -f1)
cat > "$DEST/VENDORED.md" <<MD
# Vendored files

| file | npm package | version | licence | sha256 |
|---|---|---|---|---|
| htmx.min.js | htmx.org (dist/htmx.min.js) | $HTMX_VERSION | 0BSD (htmx.LICENSE) | $SHA |

Written by scripts/vendor-ui.sh; do not edit by hand.
MD
echo "vendored htmx.org@$HTMX_VERSION sha256=$SHA"
