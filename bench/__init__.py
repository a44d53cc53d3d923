"""`make bench`: the figures of ../shared/CONTRACT.md, each against a baseline of the same run.

Run with `.venv/bin/python -m bench` (after ../shared/ci/services-up). It uses its own scratch
PostgreSQL database (rdv_bench) and Redis database 5, never the test ones.
"""
