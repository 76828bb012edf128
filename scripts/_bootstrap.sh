# Shared set-up for scripts/demo and scripts/test (sourced, not run).
# Creates .venv with this machine's python3 (3.11+), installs the locked
# dependencies (hash-checked) and Concerto itself; does nothing when up to date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

"$PYTHON" - <<'PY' || { echo "Concerto demande Python 3.11 ou plus récent." >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

bootstrap() {
    local lock="$ROOT/requirements/$1.lock"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> Création de l'environnement virtuel (.venv)"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.concerto-$1"
    local want
    want="$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> Installation des dépendances ($1)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            --require-hashes -r "$lock"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
        echo "$want" > "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}
