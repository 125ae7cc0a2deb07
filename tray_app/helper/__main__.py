"""`python3 -m tray_app.helper VERB`: the root helper from a checkout (installed as bypass-helper)."""

from tray_app.helper.main import main

raise SystemExit(main())
