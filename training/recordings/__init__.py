"""Recordings users hold (EDF/EDF+/BDF, BrainFlow files, XDF) read into typed recordings."""
