"""Command-line applications (installed as the ``ktn_cli`` package): ``ktn-kg`` and ``ktn``."""
