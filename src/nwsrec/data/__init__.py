"""nwsrec.data."""
