"""The ``synthetic`` task: seeded synthetic CTR data with known best widths.

The model is :class:`nwsrec.tasks.synthetic.params.params.SyntheticModel` (registered as
``synthetic`` and ``synthetic.params.SyntheticModel``); the data comes from
:func:`nwsrec.data.synthetic.generate_synthetic` (``nwsrec datasets generate synthetic``).
"""

__all__: list[str] = []
