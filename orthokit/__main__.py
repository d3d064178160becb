"""Allow ``python -m orthokit``."""

from orthokit.cli import main

raise SystemExit(main())
