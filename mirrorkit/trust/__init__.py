"""Signing and trust: keys, fingerprints, WACZ signatures (anonymous and authsign domain ones, with
its DER reader), the trust store and the rollback memory.

May import: formats, errors. Travels in the USB kit (pure Python, 3.9).
"""
