"""PharmaTwin's dashboard: play back, compare and launch what-if runs in the browser.

``dashboard.app.create_app(store)`` builds the Dash app over a run store and
``dashboard.app.serve(store, host, port)`` serves it (``twin dash``). Pages are in
``dashboard/pages/``; what they show is computed by plain functions in ``dashboard/data.py``
(run data, pre-aggregated playback) and ``dashboard/figures.py`` (plotly figures).
"""
