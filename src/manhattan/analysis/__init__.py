"""Experiment analysis: honest statistics for split tests, from aggregates.

Pure functions over plain numbers, no I/O. ``special`` holds the special
functions (normal, Student t, chi-square, Fisher's exact test),
``frequentist`` the intervals and tests, ``bayes`` the chance to beat
control and expected loss, and ``report`` puts them together per test.
"""
