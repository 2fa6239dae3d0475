from services.launcher import main

raise SystemExit(main())
