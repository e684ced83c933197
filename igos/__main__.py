"""``python -m igos run CONFIG``: the experiment runner (see :mod:`igos.experiment`)."""
from .experiment import main

if __name__ == "__main__":
    raise SystemExit(main())
