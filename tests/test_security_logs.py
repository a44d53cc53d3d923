"""Personal data in the URLs Django logs (issue 10, item 7): a client can put a name, a
phone number, an email or an appointment's token in any URL; a 404 (or 400) must not copy it
into the JSON logs, neither in the message nor in the `request` field."""

import json
import logging
import logging.config

import pytest

from rdv.logs import REDACTED_SEGMENT, masked_path

pytestmark = pytest.mark.postgres

SECRETS = ["Dupont", "dupont", "L%C3%A9a", "Léa", "0612345678", "612345678", "jean.dupont@exemple.fr",
           "jean.dupont%40exemple.fr", "Gh7kPq2ZxYw", "Martin"]
HOSTILE_URLS = [
    "/lea-dupont/0612345678/",
    "/r/Gh7kPq2ZxYw/",
    "/reserver/inconnu/?nom=Dupont&prenom=L%C3%A9a&tel=0612345678",
    "/contact/jean.dupont@exemple.fr",
    "/reserver/jean.dupont%40exemple.fr/Martin",
    "/webhooks/Dupont/",
    "/+33612345678",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_404_logs_the_route_not_what_the_client_wrote(client, db, json_log, url):
    assert client.get(url).status_code == 404
    lines = [line for line in json_log() if line["logger"] == "django.request"]
    assert lines, "the 404 is still logged"
    for line in lines:
        text = json.dumps(line, ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in text, (secret, text)
        assert line["request"].startswith("GET /") and line["status_code"] == 404
        assert line["message"].startswith("Not Found: /")


def test_the_masked_path_keeps_what_helps_an_operator():
    assert masked_path("/admin/appointments/appointment/123/change/") == "/admin/appointments/appointment/123/change/"
    assert masked_path("/r/Gh7kPq2ZxYw/") == f"/r/{REDACTED_SEGMENT}/"
    assert masked_path("/reserver/?service=2&nom=Dupont") == "/reserver/?service=…&nom=…"
    assert masked_path("/webhooks/anymail/postmark/tracking/") == f"/webhooks/anymail/{REDACTED_SEGMENT}/tracking/"
    assert masked_path("/?jean.dupont@exemple.fr") == f"/?{REDACTED_SEGMENT}=…"


def test_runserver_access_lines_are_masked_too(json_log):
    logging.getLogger("django.server").info('"%s" %s %s', "GET /r/Gh7kPq2ZxYw/?nom=Dupont HTTP/1.1", 404, 179)
    (line,) = json_log()
    assert "Gh7kPq2ZxYw" not in json.dumps(line) and "Dupont" not in json.dumps(line)
    assert line["message"] == f'"GET /r/{REDACTED_SEGMENT}/?nom=… HTTP/1.1" 404 179'
