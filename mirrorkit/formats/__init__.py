"""Formats layer: reading WARC, CDXJ, SURT keys, WACZ/ZIP, timestamps, charsets; bounded JSON,
neutral text and the output-path rule (the hostile-input helpers every stage uses).

What every stage and the USB kit need. May import: errors and third-party readers (warcio) only;
never a stage (checked by import-linter).
"""
