"""The report, read top to bottom.

- study.py: the stage outputs read back into a Study, and summary.json (DVC's metrics)
- statistics.py: means, intervals and the paired test over seeds
- figures.py: the matplotlib figures, as reproducible PNG bytes
- sections.py: what the report says, one function per section (add sections here)
- render.py + templates/: the sections as Markdown and as one self-contained HTML page
"""
