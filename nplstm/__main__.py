"""``python -m nplstm`` runs the ``nplstm`` command."""

import sys

from .cli import main

sys.exit(main())
