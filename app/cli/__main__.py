"""``python -m app.cli``, as ``dnc run`` starts its children."""

import sys

from app.cli import main

sys.exit(main())
