"""Sub-commands of ``nwsrec``.

Every module in this package that defines ``register(subparsers)`` is a sub-command.
``register`` adds its parser with ``subparsers.add_parser(...)`` and sets
``parser.set_defaults(func=run)`` where ``run(args) -> int`` returns the exit status.
"""
