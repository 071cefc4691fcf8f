"""The ``ctr`` task: the built-in model on any ``nwsrec convert`` output.

The model is :class:`nwsrec.tasks.ctr.params.params.CtrModel` (registered as ``ctr``):
every slot of the data's ``vocab.tsv`` (multi-valued slots too) plus the ``dense`` floats
when the records have them. ``nwsrec train --model ctr --data-dir DIR``.
"""

__all__: list[str] = []
