from jarvis_mcp.cli import main

raise SystemExit(main())
