from fieldnet.cli import main

raise SystemExit(main())
