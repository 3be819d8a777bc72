"""``python -m metahpo_cli``: the ``metahpo`` command."""

import sys

from metahpo_cli._main import main

sys.exit(main())
