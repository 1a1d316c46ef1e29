"""``python -m bot`` is the same as the ``taskbot`` console script."""

from bot.cli import main

raise SystemExit(main())
