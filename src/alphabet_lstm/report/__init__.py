"""The report: the stage outputs read into a Study and summarized over seeds (study.py),
its sections (sections.py, state_section.py over state_views.py) with figures (figures.py),
rendered as Markdown and HTML (render.py); the state explorer (explorer.py); a sweep's page
(sweep.py).
"""
