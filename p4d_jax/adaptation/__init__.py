"""Few-shot adaptation: K views of one person -> an adapted Psi avatar
(tools/adapt.py)."""
