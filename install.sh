#!/bin/sh
# Installs the `hydrate` command of event-hydrator.
#
#   curl -fsSL https://github.com/OWNER/event-hydrator/releases/latest/download/install.sh | sh
#
# With Node.js 20.19 or later and npm: `npm install -g event-hydrator` (the command carries every
# client inside: DynamoDB, Lambda, EventBridge, S3, OpenSearch, PostgreSQL, SQL Server).
# Without them: the standalone executable for this system from the release, into ~/.local/bin.
# Running it again installs nothing when that version is already there.
#
# Settings (environment variables):
#   HYDRATE_VERSION     the version to install (default: the latest)
#   HYDRATE_PREFIX      npm's --prefix for the install (default: npm's global prefix)
#   HYDRATE_REGISTRY    npm's --registry (default: npm's own setting)
#   HYDRATE_STANDALONE  1: install the standalone executable even where Node.js is
#   HYDRATE_BIN_DIR     where the standalone executable goes (default: $HOME/.local/bin)
#   HYDRATE_RELEASES    where the release downloads are, e.g. https://github.com/OWNER/event-hydrator/releases
set -eu

PACKAGE=event-hydrator
NODE_MIN=20.19
# The release workflow writes the repository's release URL here in the copy it publishes.
DEFAULT_RELEASES='@RELEASES_URL@'

say() { printf 'install.sh: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# 0 when version $1 is at least $2 (both MAJOR.MINOR[.PATCH]).
version_at_least() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, "."); split(b, y, ".")
    for (i = 1; i <= 3; i++) { if (x[i] + 0 > y[i] + 0) exit 0; if (x[i] + 0 < y[i] + 0) exit 1 }
    exit 0 }'
}

# The version a `hydrate` at path $1 reports, or nothing.
version_of() {
  [ -x "$1" ] || return 0
  "$1" --version 2>/dev/null | head -n 1 || true
}

on_path() {
  case ":$PATH:" in *":$1:"*) return 0 ;; esac
  return 1
}

install_with_npm() {
  set -- install --global --no-audit --no-fund
  [ -n "${HYDRATE_PREFIX:-}" ] && set -- "$@" --prefix "$HYDRATE_PREFIX"
  [ -n "${HYDRATE_REGISTRY:-}" ] && set -- "$@" --registry "$HYDRATE_REGISTRY"

  if [ -n "${HYDRATE_VERSION:-}" ]; then
    want=$HYDRATE_VERSION
  else
    if [ -n "${HYDRATE_REGISTRY:-}" ]; then
      want=$(npm view "$PACKAGE" version --registry "$HYDRATE_REGISTRY") || fail "could not ask the registry for the latest $PACKAGE"
    else
      want=$(npm view "$PACKAGE" version) || fail "could not ask the registry for the latest $PACKAGE"
    fi
  fi
  prefix=${HYDRATE_PREFIX:-$(npm prefix --global)}
  bin="$prefix/bin"
  have_now=$(version_of "$bin/hydrate")
  if [ "$have_now" = "$want" ]; then
    say "hydrate $want is already installed in $bin: nothing to do"
  else
    [ -n "$have_now" ] && say "replacing hydrate $have_now in $bin"
    say "running: npm $* $PACKAGE@$want"
    npm "$@" "$PACKAGE@$want" >&2 || fail "npm install failed"
    got=$(version_of "$bin/hydrate")
    [ "$got" = "$want" ] || fail "installed, but $bin/hydrate --version says '${got:-nothing}', not $want"
    say "installed hydrate $want with npm into $bin"
  fi
  finish "$bin"
}

install_standalone() {
  releases=${HYDRATE_RELEASES:-$DEFAULT_RELEASES}
  case "$releases" in
    @*) fail "no Node.js $NODE_MIN+, and no release URL to download the standalone executable from: set HYDRATE_RELEASES=https://github.com/OWNER/event-hydrator/releases (or install Node.js $NODE_MIN+ and run this again)" ;;
  esac
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) fail "no standalone executable for $(uname -s): install Node.js $NODE_MIN+ and run this again (or use install.ps1 on Windows)" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "no standalone executable for $(uname -m)" ;;
  esac
  asset="hydrate-$os-$arch"
  if [ -n "${HYDRATE_VERSION:-}" ]; then url="$releases/download/v$HYDRATE_VERSION"; else url="$releases/latest/download"; fi
  dir=${HYDRATE_BIN_DIR:-$HOME/.local/bin}
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.hydrate.XXXXXX")
  trap 'rm -f "$tmp" "$tmp.sums"' EXIT
  trap 'exit 130' INT TERM
  say "downloading $url/$asset"
  if have curl; then
    curl -fsSL -o "$tmp" "$url/$asset" || fail "could not download $url/$asset"
    curl -fsSL -o "$tmp.sums" "$url/SHA256SUMS" 2>/dev/null || rm -f "$tmp.sums"
  elif have wget; then
    wget -q -O "$tmp" "$url/$asset" || fail "could not download $url/$asset"
    wget -q -O "$tmp.sums" "$url/SHA256SUMS" 2>/dev/null || rm -f "$tmp.sums"
  else
    fail "neither curl nor wget is installed"
  fi
  if [ -s "$tmp.sums" ]; then
    sum=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp.sums")
    if have sha256sum; then got=$(sha256sum "$tmp" | awk '{ print $1 }'); else got=$(shasum -a 256 "$tmp" | awk '{ print $1 }'); fi
    if [ -z "$sum" ] || [ "$sum" != "$got" ]; then fail "$asset does not match its SHA256SUMS entry"; fi
    say "checked $asset against SHA256SUMS"
  else
    say "no SHA256SUMS beside $asset: not checked"
  fi
  chmod 755 "$tmp"
  want=$("$tmp" --version) || fail "the downloaded executable does not run here"
  have_now=$(version_of "$dir/hydrate")
  if [ "$have_now" = "$want" ]; then
    say "hydrate $want is already installed in $dir: nothing to do"
  else
    mv -f "$tmp" "$dir/hydrate"
    say "installed the standalone hydrate $want into $dir"
  fi
  finish "$dir"
}

finish() {
  if on_path "$1"; then
    say "run: hydrate --help"
  else
    say "$1 is not on your PATH: add it (export PATH=\"$1:\$PATH\") or run $1/hydrate --help"
  fi
}

node_ok=
if [ "${HYDRATE_STANDALONE:-}" != 1 ] && have node && have npm; then
  node_version=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
  if version_at_least "$node_version" "$NODE_MIN"; then
    node_ok=1
    say "found Node.js $node_version and npm $(npm --version)"
  else
    say "Node.js $node_version is older than $NODE_MIN: installing the standalone executable instead"
  fi
elif [ "${HYDRATE_STANDALONE:-}" != 1 ]; then
  say "no Node.js with npm on PATH: installing the standalone executable"
fi

if [ -n "$node_ok" ]; then install_with_npm; else install_standalone; fi
