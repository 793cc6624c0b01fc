"""``python -m bioplaus ...`` is the ``bioplaus`` command."""

from bioplaus.cli import main

raise SystemExit(main())
