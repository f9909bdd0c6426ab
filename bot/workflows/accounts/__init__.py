"""The account register (アカウント台帳), account changes through the PR office, reviews and reports."""
