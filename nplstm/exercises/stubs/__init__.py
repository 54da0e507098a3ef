"""The exercise files a learner starts from (``nplstm exercise start NAME`` copies one).

Each holds the functions to write, with their equations and shapes in the docstring and a
body that raises ``NotImplementedError``.  Package data: read as text, never imported by nplstm.
"""
