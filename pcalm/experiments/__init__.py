"""Experiments: training runs, grids (in process or on Ray), the benchmark, figures, the code
fingerprint and the ``--out`` folders. They use the engine, models, data and runtime; the
commands use them."""
