#!/bin/sh
# Install the worker into a fresh virtual environment, the one way both images and the install test use.
# usage: install.sh VENV_DIR [cpu|cuda]
set -eu
venv="$1"
flavour="${2:-cpu}"
here="$(cd "$(dirname "$0")" && pwd)"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check "$here[$flavour]"
"$venv/bin/python" -c "import vaultext_worker.__main__, onnxruntime, av"
