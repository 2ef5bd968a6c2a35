"""Detection: pure, typed functions from history windows to explained decisions (no I/O).

Modules: `news2` (RCP 2017 chart), `thresholds` (limits, hysteresis, persistence), `delta` (change over
days, rise over baseline), `baseline` and `trend` (z-score, CUSUM, EWMA, MACD), `aggregates` (home blood
pressure, glucose), `series` and `days` (cleaning windows, Europe/Oslo calendar days), `explain`
(decisions and their explanations), `events` and `liveness` (welfare events, liveness contracts), `protocols`
(rule sets as data, overrides), `lifecycle` and `suppression` (the alert state machine; snooze, silence,
pause, inhibition), `evaluate` (the entry point the cloud calls), `replay` (a protocol over a CSV of
readings). docs/detection.md describes each detector and its sources.
"""
