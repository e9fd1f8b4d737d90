"""QR stage: Base45, trust cards, and RaptorQ-coded QR sequences that carry files.

May import: verify, trust, formats, errors. Nothing in the kit imports it.

Submodules import heavy packages (qrcode, Pillow, raptorq, zxing-cpp), so nothing is imported here.
"""
