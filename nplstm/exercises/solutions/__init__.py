"""The solutions of the exercises, one file each (``nplstm exercise solution NAME`` prints one).

Plain NumPy written from ``nplstm/functional/reference.py``; the test suite checks that each
passes ``nplstm exercise check``.  Package data: read as text, never imported by nplstm.
"""
