"""Strategies that live in modules of their own (``continuous``, ``brent``) and the stepped
refinement they share. Use them through :mod:`autofocus.search` (``STRATEGIES``,
``find_focus``): these modules build on its probe, search space and pass helpers."""
