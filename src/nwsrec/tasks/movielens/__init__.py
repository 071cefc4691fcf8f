"""The ``movielens`` task: MovieLens-100K, label rating >= 4.

The model is :class:`nwsrec.tasks.movielens.params.params.MovieLensModel` (registered as
``movielens``); the data comes from :mod:`nwsrec.data.movielens`
(``nwsrec datasets fetch movielens-100k``).
"""

__all__: list[str] = []
