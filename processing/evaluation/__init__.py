"""Comparing detections with ground truth."""
