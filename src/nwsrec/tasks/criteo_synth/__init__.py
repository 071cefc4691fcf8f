"""The ``criteo_synth`` task: seeded synthetic CTR data shaped like Criteo Kaggle.

The model is :class:`nwsrec.tasks.criteo_synth.params.params.CriteoSynthModel`
(registered as ``criteo_synth``); the data comes from
:func:`nwsrec.data.criteo.generate_criteo` (``nwsrec datasets generate criteo``).
"""

__all__: list[str] = []
