"""The playground: a local Slack-like workspace in the browser, for first runs, demos and drills.

`fake_slack` is a Slack Web API on loopback (also the tests' fake Slack), `slack_requests` sends the
bot signed requests as Slack does; `workspace` joins them into people, channels, DMs, App Home and
modals a browser can show, and `server` serves the page. `python -m bot playground` starts it.
"""
