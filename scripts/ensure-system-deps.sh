#!/usr/bin/env bash
# Installs the Debian packages the workbench needs when they are missing:
#   - Mesa's EGL, for MuJoCo's offscreen rendering on the CPU (MUJOCO_GL=egl);
#   - Chromium, for the app's end-to-end browser tests (only with WITH_BROWSER=1 or in CI).
# Does nothing when everything is present; needs root (or sudo) otherwise.
set -euo pipefail

need=()
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1)
if [[ "${WITH_BROWSER:-${CI:-}}" != "" ]] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
[[ ${#need[@]} -eq 0 ]] && exit 0

echo "installing system packages: ${need[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "missing system packages (${need[*]}); install them with apt-get as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
