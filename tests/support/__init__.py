"""What the suites share: helpers, servers a test owns, the suite's own database and keys."""
