"""Adapters: settings, Postgres, Redis, SMTP and the job queue."""
