"""``python -m tnq.cli``: the same as the ``tnq`` command."""

from .main import main

raise SystemExit(main())
