"""Load benchmark of chatsite's streaming hot path and pages (run with `python -m bench`)."""
