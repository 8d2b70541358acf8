#!/usr/bin/env bash
# Install the system packages symdiff needs when they are missing:
#   libfluidsynth3  audio rendering (symdiff render, Roll.render, the audio tests)
#   musescore3      the MuseScore 3 client the notation tests import symdiff's MIDI into (mscore3, headless)
# Uses apt-get with --no-install-recommends (with recommends, FluidSynth pulls a Qt GUI and 250 MB; musescore3
# without them is about 50 MB to download and 165 MB installed).
# Without root or apt-get it only says what to install, and the tests that need them skip.
set -euo pipefail

missing=()
ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3' || missing+=(libfluidsynth3)
command -v mscore3 >/dev/null 2>&1 || missing+=(musescore3)

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
    echo "  (macOS: brew install fluid-synth). Audio rendering is unavailable until libfluidsynth3 is installed;" >&2
    echo "  the MuseScore 3 notation tests skip without mscore3." >&2
fi
