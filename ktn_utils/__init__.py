"""ktn_utils: the small torch-free utilities that ``ktn_kg`` and ``ktn_model`` share.

- ``atomic.atomic_write``: write a temp file beside the target, then rename (never a half-written file);
- ``safe_pickle``: unpickling that cannot run code (numpy arrays and builtin types only);
- ``registry.Registry``: name -> variant registries (model variants, dataset formats);
- ``versions.package_version``: the installed version of the ``ktn`` distribution.
"""
