"""What is coming: a table of every active order's runs over a bounded horizon (issue 15)."""
