"""Intake service: every channel hands requests (诉求) to the center here and gets a tracking
number back at once."""
