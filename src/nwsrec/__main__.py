"""``python -m nwsrec`` runs the command line."""

from nwsrec.cli.main import entry

if __name__ == "__main__":
    entry()
