"""Analytics: process-window features, grade model training, prediction, drift; the simulator.

Nothing here imports Flask.
"""
