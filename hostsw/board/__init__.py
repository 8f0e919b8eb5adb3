"""Board deployment: bitstream folders and their manifests (``render``, ``manifest``), drivers
that take a ``device=`` (``device``: PYNQ / pyxrt; ``mock``: MOCK devices for tests), register
maps from the HLS driver headers (``regmap``), power and energy (``power``), benchmarks
(``bench``) and the analytic estimate (``estimate``).

Nothing here imports ``pynq`` or ``pyxrt`` at import time: they are optional (``pip install
hostsw[board]``) and loaded by ``hostsw.board.device`` only when a real board is opened.
"""
