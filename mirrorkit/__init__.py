"""mirrorkit: capture web sites into WARC, sign them into WACZ bundles, replay them offline.

This package's `errors`, `index`, `wacz` (reading), `signing` (verification) and `verify` modules
travel inside the USB kit's zipapp: they must import on Python 3.9 with only pure-Python packages.
"""

__version__ = "0.1.0"
