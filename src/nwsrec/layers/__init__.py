"""nwsrec.layers."""
