"""Log times a person can put beside Flower's and the admin's: in TIME_ZONE, with the UTC offset
written out (ISO 8601, 2026-03-12T14:30:05.123+01:00), whatever the process's own zone (UTC in a
container). The admin says "heure de Paris", Flower CET/CEST, a log line +01:00/+02:00."""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class ZonedTime:
    def formatTime(self, record, datefmt=None):
        from django.conf import settings

        return datetime.fromtimestamp(record.created, ZoneInfo(settings.TIME_ZONE)).isoformat(timespec="milliseconds")


class PlainFormatter(ZonedTime, logging.Formatter):
    pass


class JsonFormatter(ZonedTime, _JsonFormatter):
    pass
