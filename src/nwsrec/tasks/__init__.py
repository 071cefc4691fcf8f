"""nwsrec.tasks."""
