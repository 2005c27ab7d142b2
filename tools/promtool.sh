#!/usr/bin/env bash
# Make promtool available (Debian's prometheus package ships it); prints its path.
set -euo pipefail
if ! command -v promtool >/dev/null; then
  echo "installing Debian's prometheus package for promtool" >&2
  sudo_=""; [[ $(id -u) -eq 0 ]] || sudo_="sudo"
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends prometheus >&2
  # The package starts a Prometheus server where init systems run; we only need the binary.
  $sudo_ systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool
