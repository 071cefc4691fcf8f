"""nwsrec.embedding."""
