"""Recommend an input size (and backbone) for a task.

Pure (no torch): ``levels`` (task levels), ``training`` (the training start), ``rules`` (the
k x k window and input pipeline), ``kmax`` (options keeping k <= 9), ``batch`` (largest
training batch per GPU), ``catalog`` (the accuracy table), ``suggestion`` (the ``Option`` rows
and the ``Suggestion`` result), ``data_size`` (rules §6: the size from a data set's objects),
``search_front`` (the search's ``Front`` and ``SearchSummary``, its bounds and reasons),
``request`` (arguments checked once) and ``decide`` (``recommend``, the decision). Profiling
and timing: ``evaluate`` (one option profiled or timed), ``named`` (``suggest`` on named
backbones) and ``search`` (``search_backbones``, the zoo search)."""
