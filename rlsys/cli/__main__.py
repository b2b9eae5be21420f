"""`python -m rlsys.cli ...` is the `rlsys` command (Ray Jobs entrypoints use this form)."""
import sys

from rlsys.cli import main

sys.exit(main())
