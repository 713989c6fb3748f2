#!/bin/sh
# Runs a program on an X display: the one in $DISPLAY, else a fresh Xvfb (1920x1200, 24-bit colour) from
# xvfb-run. The screenshot test uses it so that its PNGs come from a real X server, not the offscreen platform.
if [ -n "${DISPLAY:-}" ]; then
  exec "$@"
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "under_x.sh: no DISPLAY and no xvfb-run (install the xvfb package: tools/install-deps.sh)" >&2
  exit 1
fi
exec xvfb-run -a -s "-screen 0 1920x1200x24" "$@"
