"""QR distribution: Base45, trust cards, and RaptorQ-coded QR sequences that carry files.

Submodules import heavy packages (qrcode, Pillow, raptorq, zxing-cpp), so nothing is imported here.
"""
