"""``metahpo bench``: MetaSampler against the baselines a user would pick, on real prior-study data."""
