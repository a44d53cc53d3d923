"""Local stand-ins for the outside providers (Twilio's REST API, an SMTP server) and helpers
that start the project's real processes (Celery worker and beat) for end-to-end tests, fault
tests and benchmarks. Each stand-in runs in-process (a thread) or as its own process."""
