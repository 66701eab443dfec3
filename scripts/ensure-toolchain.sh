#!/usr/bin/env bash
# Installs what Twinline's build and tests need, when it is missing:
# the wasm32 rustup target, rustfmt and clippy, wasm-bindgen-cli at the exact
# version of the wasm-bindgen crate in Cargo.lock, Debian's chromium and
# chromium-driver (only with --browser), Debian's postgresql and haproxy (only
# with --servers: the tests of a deployment on several nodes start their own
# PostgreSQL and HAProxy; no service is enabled or used; and PyPI's aiosmtpd,
# the transcript-by-email tests' SMTP server), wasm-pack (only with --wasm-pack: the
# usual way to run the widget's browser tests, `wasm-pack test --headless
# --chrome widget`; npm test does without it), and the npm dev dependencies
# (binaryen's wasm-opt, playwright-core). Safe to run again: each step checks first.
# Why these sources: Debian's binaryen (108) writes wasm that breaks in the
# browser (it does not know the reference types rustc emits), so wasm-opt
# comes from npm's binaryen; playwright-core drives Debian's chromium, as
# playwright's own browser download is not reachable from every machine.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=false
want_servers=false
want_wasm_pack=false
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=true ;;
    --servers) want_servers=true ;;
    --wasm-pack) want_wasm_pack=true ;;
    *) echo "ensure-toolchain: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1mtoolchain:\033[0m %s\n' "$*"; }

# Installs Debian packages ($2...) for what $1 names, or says how to.
apt_install() {
  local what=$1
  shift
  if ! command -v apt-get >/dev/null; then
    echo "$what: missing, and apt-get is not here: install $* by hand" >&2
    exit 1
  fi
  local sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  say "installing Debian's $*"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

if command -v rustup >/dev/null; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      say "adding rustup component $component"
      rustup component add "$component"
    fi
  done
fi

# wasm-bindgen-cli must match the wasm-bindgen crate exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock 2>/dev/null || true)
if [ -n "$bindgen_version" ]; then
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$bindgen_version" ]; then
    say "installing wasm-bindgen-cli $bindgen_version (takes a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$bindgen_version"
  fi
fi

if $want_browser; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install "the headless browser" chromium chromium-driver
  fi
fi

# The relay's harness finds initdb and pg_ctl in /usr/lib/postgresql/N/bin
# (or TWINLINE_PG_BIN), HAProxy on PATH or in /usr/sbin.
if $want_servers; then
  if [ -z "${TWINLINE_PG_BIN:-}" ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    apt_install "PostgreSQL" postgresql
  fi
  if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
    apt_install "HAProxy" haproxy
  fi
  # The transcript-by-email tests' SMTP server (tests/smtp_sink.py).
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    say "installing aiosmtpd (pip)"
    python3 -m pip install --quiet 'aiosmtpd==1.4.6' \
      || python3 -m pip install --quiet --break-system-packages 'aiosmtpd==1.4.6'
  fi
fi

# wasm-pack's prebuilt download is not reachable everywhere; cargo builds it
# (a few minutes, once). Its own wasm-bindgen download falls back to the CLI
# installed above.
if $want_wasm_pack && ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack (takes a few minutes, once)"
  cargo install wasm-pack
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
  || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev dependencies"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
