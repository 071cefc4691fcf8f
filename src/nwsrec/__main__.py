"""``python -m nwsrec`` runs the command line."""

import sys

from nwsrec.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
