#!/usr/bin/env bash
# Ensure the Debian/Ubuntu system packages the reporter needs are installed.
#
# Usage: .ci/system-packages.sh GROUP [GROUP...]
#   runtime   headless browser for kaleido, fonts, pango/harfbuzz for WeasyPrint
#   test      runtime + poppler-utils (pdftotext/pdftoppm used by the tests)
#   postgres  a PostgreSQL server for the MLflow backend-store tests
#   venv      python3-venv, only when $PYTHON (default python3) lacks ensurepip
#
# Quiet and idempotent: packages are checked with dpkg-query and apt is only
# touched when something is missing. As root apt-get runs directly; otherwise
# passwordless sudo is used if available; otherwise the command to run is
# printed and the script exits 1.
#
# Ubuntu's "chromium" package is a snap shim that does not work on CI runners.
# When chromium is not on PATH but Google Chrome is (GitHub's Ubuntu runners),
# chromium is skipped and Chrome is used; kaleido honours $BROWSER_PATH.
set -euo pipefail

RUNTIME_PACKAGES=(
    chromium
    fonts-dejavu-core
    fonts-noto-core
    fonts-noto-cjk
    fonts-noto-color-emoji
    libpango-1.0-0
    libpangoft2-1.0-0
    libharfbuzz-subset0
)
TEST_PACKAGES=(poppler-utils)
POSTGRES_PACKAGES=(postgresql)

usage() {
    echo "usage: $0 runtime|test|postgres|venv [...]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage

wanted=()
for group in "$@"; do
    case "$group" in
        runtime) wanted+=("${RUNTIME_PACKAGES[@]}") ;;
        test) wanted+=("${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
        postgres) wanted+=("${POSTGRES_PACKAGES[@]}") ;;
        venv)
            # Debian's own python3 ships ensurepip (needed by `python3 -m venv`)
            # in python3-venv. Other interpreters (pyenv, setup-python) have it.
            if ! "${PYTHON:-python3}" -c 'import ensurepip' >/dev/null 2>&1; then
                wanted+=(python3-venv)
            fi
            ;;
        -h | --help) usage ;;
        *)
            echo "$0: unknown group '$group'" >&2
            usage
            ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "$0: dpkg-query not found; this script supports Debian/Ubuntu only." >&2
    echo "$0: make sure these are installed: ${wanted[*]}" >&2
    exit 1
fi

is_installed() {
    # "install ok installed" (or "hold ok installed"); anything else is missing.
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ "$status" == *" ok installed" ]]
}

missing=()
declare -A seen=()
for pkg in "${wanted[@]}"; do
    [[ -n "${seen[$pkg]:-}" ]] && continue
    seen[$pkg]=1

    if [[ "$pkg" == chromium ]] && ! command -v chromium >/dev/null 2>&1; then
        chrome=""
        if [[ -n "${BROWSER_PATH:-}" && -x "${BROWSER_PATH}" ]]; then
            chrome="$BROWSER_PATH"
        else
            for name in google-chrome google-chrome-stable; do
                if chrome=$(command -v "$name" 2>/dev/null); then
                    break
                fi
                chrome=""
            done
        fi
        if [[ -n "$chrome" ]]; then
            echo "system-packages: chromium not on PATH; using $chrome instead" \
                "(kaleido reads BROWSER_PATH; set BROWSER_PATH=$chrome if it does not find it)" >&2
            continue
        fi
    fi

    is_installed "$pkg" || missing+=("$pkg")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "system-packages: missing: ${missing[*]}" >&2

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "system-packages: not root and no passwordless sudo; please run:" >&2
    echo "sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
    # apt-get succeeded, so these were most likely satisfied by a renamed or
    # virtual package (e.g. Ubuntu's *t64 library names); warn, don't fail.
    echo "system-packages: warning: dpkg does not list these by name after apt-get:" \
        "${still_missing[*]}" >&2
fi
