"""The report: the study read back from the stage outputs, its statistics, figures and documents."""
