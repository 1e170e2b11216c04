"""``python -m tapegrad``: the same as the ``tapegrad`` command."""

from .cli import main

raise SystemExit(main())
