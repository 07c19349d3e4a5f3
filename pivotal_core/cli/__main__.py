"""``python -m pivotal_core.cli``: the same as the ``pivotal`` command."""

from pivotal_core.cli import main

main()
