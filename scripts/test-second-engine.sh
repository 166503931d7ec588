#!/usr/bin/env bash
# Runs the workflow suite (test/statemachine) on LocalStack in host mode instead of moto: a
# second interpreter of the same definition, to catch assumptions that hold on one engine
# only. Opt-in, not part of CI. LocalStack needs Python 3.13 (it fails to import on 3.11) and
# these pins; it is installed into .cache/localstack-venv from PyPI on first use.
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."

VENV=.cache/localstack-venv
PYTHON_FOR_LOCALSTACK=${PYTHON_FOR_LOCALSTACK:-}

if [[ ! -x $VENV/bin/python ]]; then
  if [[ -z $PYTHON_FOR_LOCALSTACK ]]; then
    for candidate in python3.13 "$HOME/.pyenv/versions/3.13"*/bin/python3.13; do
      if command -v "$candidate" >/dev/null 2>&1; then PYTHON_FOR_LOCALSTACK=$(command -v "$candidate"); break; fi
    done
  fi
  if [[ -z $PYTHON_FOR_LOCALSTACK ]]; then
    echo "test-second-engine: LocalStack needs Python 3.13; set PYTHON_FOR_LOCALSTACK to one" >&2
    exit 1
  fi
  "$PYTHON_FOR_LOCALSTACK" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==25.3.0' \
    'cryptography>=45.0.7,<47' service-identity
fi

# Read by the shared local AWS (test/support/engine.ts): every suite on it could run this way.
export AMI_FACTORY_ENGINE=localstack
exec node_modules/.bin/vitest run test/statemachine "$@"
