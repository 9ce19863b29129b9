"""``python -m hpcsched.cli``: the same command as the ``hpcsched`` script."""

from hpcsched.cli import main

main()
