#!/usr/bin/env bash
# Install the system libraries symdiff needs when they are missing: libfluidsynth (audio rendering).
# Uses apt-get with --no-install-recommends (with recommends, FluidSynth pulls a Qt GUI and 250 MB).
# Without root or apt-get it only says what to install, and the audio tests skip.
set -euo pipefail

missing=()
ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3' || missing+=(libfluidsynth3)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "installing system packages with sudo: ${missing[*]}"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "warning: missing system packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    echo "  (macOS: brew install fluid-synth). Audio rendering is unavailable until then." >&2
fi
