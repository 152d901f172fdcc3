"""The report, read top to bottom.

- study.py: the stage outputs read back into a Study, and summary.json (DVC's metrics)
- statistics.py: means, intervals and the paired test over seeds
- state_views.py: what each framing's LSTM carries (the A..Z path, windows, padding)
- figures.py: the matplotlib figures, as reproducible PNG bytes
- sections.py: what the report says, one function per section (add sections here)
- state_section.py: the section on the LSTM state, a sentence read from each view's numbers
- render.py + templates/: the sections as one Markdown document, and the HTML page made from it
- explorer.py + templates/explorer.html.j2: the state explorer, the LSTMs run in the browser
- sweep.py: a sweep's summary per grid point, its answer, figure, page and points.json
"""
