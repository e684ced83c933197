"""What only the book's chapters use: the reproduction's displays, figure helpers, theory toys, the ledger.

The library (``igos`` and its other subpackages) never imports this package; a chapter imports
what it shows from here (``import igos.book.reproduction as repro``). Its modules:

* :mod:`~igos.book.reproduction`: settings, orderings, timing and plots of the shared experiment;
* :mod:`~igos.book.figures`: the paper's figures (maps, curves, ratio tables, adversarial pairs);
* :mod:`~igos.book.ledger`: the claims ledger, one verdict per claim of the book;
* :mod:`~igos.book.explorer`: the interactive explorer's widgets;
* :mod:`~igos.book.cam_family`, :mod:`~igos.book.presoftmax`, :mod:`~igos.book.paths`,
  :mod:`~igos.book.toys`, :mod:`~igos.book.vulnerability`, :mod:`~igos.book.diagnostics`: the
  numeric checks of the theory chapters.
"""
