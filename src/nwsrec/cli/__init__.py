"""The ``nwsrec`` command line: one module per sub-command under ``nwsrec.cli.commands``."""
