"""``python -m nplstm`` runs the ``nplstm`` command."""

import sys

from .cli.main import main

sys.exit(main())
