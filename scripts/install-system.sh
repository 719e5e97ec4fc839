#!/usr/bin/env bash
# The system packages seal-webgpu needs on Debian 12 or Ubuntu 22.04 / 24.04, each installed only when it is missing
# (a second run installs nothing): Node.js >= 20.19, a Vulkan driver new enough for Dawn (Mesa's lavapipe, which runs
# on the CPU, so no GPU is needed) and Chromium for the browser tests. As root or through sudo. The one place for
# this: scripts/quickstart.sh and .ci/run call it.
set -euo pipefail

say() { echo "install-system: $*"; }
fail() {
  echo "install-system: $*" >&2
  exit 1
}

export DEBIAN_FRONTEND=noninteractive

[ -r /etc/os-release ] || fail "no /etc/os-release: this script knows Debian 12 and Ubuntu 22.04 / 24.04"
# shellcheck disable=SC1091
. /etc/os-release
case "${ID:-}" in
  debian | ubuntu) ;;
  *) fail "${PRETTY_NAME:-this system} is not Debian or Ubuntu; install Node.js >= 20.19, a Vulkan driver (Mesa >= 24) and Chromium yourself" ;;
esac

node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; }
# Dawn needs a Mesa of 24 or later: Debian 12's own 22.x lacks what it uses.
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
mesa_ok() { mesa_version | grep -qE '^(2[4-9]|[3-9][0-9])\.'; }
chromium_path() {
  for c in "${CHROMIUM_PATH:-}" /usr/bin/chromium /snap/bin/chromium; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if node_ok && mesa_ok && chromium_path >/dev/null; then
  say "nothing to install (node $(node --version), mesa-vulkan-drivers $(mesa_version), chromium at $(chromium_path))"
  exit 0
fi

# Root (or sudo) is needed only from here on, when something is missing.
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "something is missing and installing it needs root: run this as root, or install sudo"
  SUDO="sudo"
fi

updated=0
apt_update() {
  if [ "$updated" = 0 ]; then
    $SUDO apt-get update -q
    updated=1
  fi
}
apt_install() {
  apt_update
  $SUDO apt-get install -y -q "$@"
}

if ! node_ok; then
  # NodeSource's apt repository (Debian's and Ubuntu's own Node.js are older than the 20.19 the package needs).
  say "installing Node.js 22 from deb.nodesource.com"
  apt_install ca-certificates curl gnupg
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | $SUDO gpg --dearmor --yes -o /usr/share/keyrings/nodesource.gpg
  echo "deb [signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.com/node_22.x nodistro main" | $SUDO tee /etc/apt/sources.list.d/nodesource.list >/dev/null
  updated=0
  apt_install nodejs
  node_ok || fail "node $(node --version 2>/dev/null || echo missing) is still older than 20.19"
fi

if ! mesa_ok; then
  if [ "$ID" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Debian 12's own Mesa is 22.x: take bookworm-backports' (25.x).
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
      echo "deb ${mirror:-http://deb.debian.org/debian} bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
      updated=0
    fi
    say "installing mesa-vulkan-drivers (lavapipe) from bookworm-backports"
    apt_install -t bookworm-backports mesa-vulkan-drivers
  else
    say "installing mesa-vulkan-drivers (lavapipe) from the ${PRETTY_NAME:-system} archive"
    apt_install mesa-vulkan-drivers
  fi
  if ! mesa_ok; then
    hint=""
    [ "$ID" = ubuntu ] && hint=" On Ubuntu 22.04 a newer Mesa comes from the kisak-mesa PPA: sudo add-apt-repository ppa:kisak/kisak-mesa && sudo apt-get install -y mesa-vulkan-drivers, then run this again."
    fail "mesa-vulkan-drivers $(mesa_version) is older than the 24.x Dawn needs.$hint"
  fi
fi

if ! chromium_path >/dev/null; then
  # Headless Chromium runs the kernel suite in a browser (WebGPU through SwiftShader): only `npm test` needs it.
  if [ "$ID" = debian ]; then
    say "installing chromium"
    apt_install chromium
  elif command -v snap >/dev/null 2>&1; then
    # Ubuntu ships Chromium only as a snap (its chromium-browser package is a wrapper that installs the snap).
    say "installing chromium (snap)"
    $SUDO snap install chromium
  else
    say "warning: no Chromium and no snap to install Ubuntu's: the browser tests (npm run test:browser, part of npm test) need one; install Chromium and set CHROMIUM_PATH to it. The rest works without it."
  fi
fi
say "done (node $(node --version), mesa-vulkan-drivers $(mesa_version), chromium at $(chromium_path || echo 'none'))"
