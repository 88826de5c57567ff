"""The web console at ``/console``: server-rendered pages (Jinja2) for the organization's
people, over the same use cases as the API, with no asset from outside the service."""
