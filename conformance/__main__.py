"""`python -m conformance` runs the `h1check` command line."""

from conformance.cli import main

raise SystemExit(main())
