"""Datasets: immutable recipes over projects and TMs, built into training and validation files."""
