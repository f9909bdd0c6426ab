"""The domain, Slack-free: each module is one concept's use cases, one transaction each."""
