"""ktn_model.demo: ``ktn demo`` (``make demo``), the whole workflow on CPU on synthetic data.

- ``settings.DemoSettings``: its sizes, schedule, seed and threads (torch-free, for ``--help``).
- ``workflow.run_demo``: graph, data, untrained evaluation, training, evaluation, pictures; ``comparison_table``.
"""
