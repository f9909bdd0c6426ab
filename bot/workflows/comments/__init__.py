"""Citizen comments (市民の声): received from monitoring tools or forwarded by staff, routed to the
department concerned with personal data masked, acknowledged within a business day, answered (or replied to in
the meantime) within 14 days, closed, passed on, marked duplicate, reopened or hidden.

- `rules`: statuses, the (status, action) -> new status table and who may do what; sources, criteria.
- `service`: the use cases, one transaction each; `route_comment` decides the department.
- `digest`: one message per comment, or digests while a channel's Slack queue is long.
- `links`: which of our published posts a comment is about.
- `sweeps`: reminders and escalations when the acknowledgement target is missed; reminders of answers due.
"""
