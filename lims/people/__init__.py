"""People and access: organizations, users, passwords, API tokens and who is calling."""
