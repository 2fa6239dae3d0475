"""Scoring service: feedback through the original channel, revisits and satisfaction ratings,
redo orders, and the units' monthly scorecards, rankings and year-end evaluation."""
