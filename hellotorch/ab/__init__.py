"""A/B on one machine: two versions of the code in alternating fresh processes, and the statistics that judge them. Imports no torch."""
