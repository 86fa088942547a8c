"""The search strategies, one module each, and the machinery they share.

- ``sweep``: the tutorial's sweep.
- ``coarse_to_fine``: the default strategy and the first pass of every pass-based one;
  ``passes`` (bracket, zoom, fit) and ``transparent`` (expect dip or auto) are its machinery.
- ``continuous``: streamed passes, then frames at rest; ``brent``: bounded local refinement;
  ``stepped``: the stepped refinement these two share.

They build on :mod:`autofocus.space` (probe, search space) and never import
:mod:`autofocus.search`, which registers them (``STRATEGIES``) and runs them (``find_focus``):
use them through it.
"""
