"""Scheduling: the critical path, slips and completion odds of a portfolio's
milestone network (``engine``, pure), loaded and memoised from the database
(``selectors``), served by the API (``api``) and kept fresh after each change
(``tasks``). Above the planning app, below reporting."""
