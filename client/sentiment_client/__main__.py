"""``python -m sentiment_client``: the ``sentiment`` command."""

import sys

from .cli import main

sys.exit(main())
