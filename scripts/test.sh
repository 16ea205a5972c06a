#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs the whole suite.
# Debian packages: the Fashion-MNIST files (real-data tests) and chromium (browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[[ -d /usr/share/datasets/fashion-mnist ]] || need+=(dataset-fashion-mnist)
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || need+=(fonts-noto-color-emoji)
if ((${#need[@]})); then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: install ${need[*]} (Debian/Ubuntu) for the tests that need them; they skip otherwise" >&2
  fi
fi

# The faces dataset's renderer (node packages pinned in scripts/faces/package-lock.json).
if command -v node >/dev/null && command -v npm >/dev/null; then
  [[ -d scripts/faces/node_modules ]] || npm ci --prefix scripts/faces --no-audit --no-fund
else
  echo "note: install Node.js >= 18 and npm for the faces dataset's tests; they skip otherwise" >&2
fi

python -m pip install -q -r requirements-dev.txt
python -m pytest "$@"
