"""`python -m rlsys.cli ...` is the `rlsys` command (Ray Jobs entrypoints use this form)."""

from rlsys.cli import main

main()
