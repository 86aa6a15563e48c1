"""What to measure: benchmark cases, the named profiles and profile files, resolved into one plan."""
