"""nwsrec.training."""
