#!/bin/sh
# SPDX-License-Identifier: ISC
# render.sh: re-renders demo/flights.png from flights.html (1280x720, DPR 1)
# with Debian's headless Chromium.  Only needed when the page changes.
set -e
cd "$(dirname "$0")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1280,720 \
    --force-device-scale-factor=1 --screenshot="$PWD/flights.png" \
    "file://$PWD/flights.html" 2>/dev/null
