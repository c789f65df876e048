"""Experiment analysis: honest statistics for split tests, from aggregates.

Pure functions over plain numbers, no I/O. ``special`` holds the special
functions (normal, Student t, chi-square, Fisher's exact test),
``frequentist`` the intervals and tests, ``score`` the intervals that agree
with them, ``bayes`` the chance to beat control and expected loss,
``plan`` an experiment's declared plan, ``planning`` the size it needs,
``sequential`` the always-valid figures, ``decision`` the verdict on them,
and ``report`` puts them together per test.
"""
