"""Built-in models, one package per task.

Layout (the Lingvo convention)::

    nwsrec/tasks/<task>/__init__.py
    nwsrec/tasks/<task>/params/__init__.py
    nwsrec/tasks/<task>/params/<file>.py      # classes decorated with @register

The built-in tasks are ``synthetic`` and ``movielens``
(:data:`nwsrec.model_imports.DEFAULT_TASK_DIRS`); each keeps its models in
``params/params.py``. A model class ``SyntheticModel`` in
``nwsrec/tasks/synthetic/params/params.py`` is registered as
``nwsrec.tasks.synthetic.params.params.SyntheticModel`` and by the short name
``synthetic.params.SyntheticModel`` (task, file, class: the ``params`` package is dropped,
the file name is kept). A class in ``params/ctr.py`` would be ``synthetic.ctr.Name``.

Importing this package imports no task: :func:`nwsrec.model_imports.import_params` and
:func:`nwsrec.model_imports.import_all_params` import them by name, on demand.

Example:
    >>> from nwsrec.registry import get_class
    >>> get_class("synthetic.params.SyntheticModel")  # doctest: +SKIP
    <class 'nwsrec.tasks.synthetic.params.params.SyntheticModel'>
"""

__all__: list[str] = []
