"""The benchmark protocol: cohorts, donors, the committed splits and how they are generated."""
