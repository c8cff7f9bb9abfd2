"""The receptive field of a traced forward: per-axis arithmetic (``axis``), where a tensor keeps
the map (``dims``), one tensor's state (``state``), the operator rules (``rules``, ``views``)
and the tracker the MAC counter drives (``tracker``)."""
