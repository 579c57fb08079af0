"""Helpers every test package shares, one module per topic:

``data`` (the synthetic negation task), ``settings`` (the one ``make_settings`` and the test key),
``waiting`` (polling with a deadline), ``api`` (dataset and job calls), ``processes`` (is a
process alive, which children does it have) and ``server`` (a real server in a subprocess).
"""
