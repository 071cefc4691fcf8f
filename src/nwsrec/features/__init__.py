"""nwsrec.features."""
