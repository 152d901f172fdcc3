"""The report: the stage outputs read into a Study and summarized over seeds (study.py); its
text one Markdown template (templates/report.md.j2) filled with the values sections.py and
state_section.py (over state_views.py) compute, figures from figures.py, rendered to HTML by
render.py; the state explorer (explorer.py); a sweep's page (sweep.py, templates/sweep.md.j2).
"""
