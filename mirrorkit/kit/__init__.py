"""Kit stage: the USB kit folder (build), its zipapp (pyz, with main as the entry point), its
bilingual texts and vendored 3.9 wheels.

May import: serve, verify, trust, formats, errors. `main` travels in the zipapp; `build` and `pyz`
do not. This `__init__` stays empty so importing `mirrorkit.kit.main` pulls in nothing else.
"""
