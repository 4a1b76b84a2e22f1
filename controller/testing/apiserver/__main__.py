"""``python -m controller.testing.apiserver --kubeconfig PATH``: same as ``python -m apiserver``."""

import sys

from apiserver.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
