from fieldnet.app.cli import main

raise SystemExit(main())
