"""Content-Security-Policy (issue 10, item 7): every page carries it, only script files of our
own run, and a real Chromium reports no violation on the public pages and the admin."""

import re

import pytest

pytestmark = pytest.mark.postgres
PASSWORD = "Un-vrai-mot-de-passe-2026"


def policy(response):
    return dict(
        (part.split()[0], part.split()[1:]) for part in response["Content-Security-Policy"].split(";") if part.strip()
    )


def test_public_pages_send_a_strict_policy(client, demo):
    response = client.get("/")
    directives = policy(response)
    assert directives["default-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["form-action"] == ["'self'"]
    assert "unsafe" not in response["Content-Security-Policy"]
    # Every script of the page is a file of ours: no inline code for the policy to refuse.
    scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
    assert scripts and all(re.search(r'src="/static/', tag) for tag in scripts)


def test_admin_and_error_pages_carry_the_policy_too(client, demo):
    assert "default-src 'self'" in client.get("/admin/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in client.get("/nulle-part/")["Content-Security-Policy"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_reports_no_violation_on_the_pages(demo, live_server, phone):
    demo.camille.user.set_password(PASSWORD)  # seed_demo gives demo agents no password outside DEBUG
    demo.camille.user.save()
    page = phone()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation',"
                         " e => console.error('Content Security Policy violation: ' + e.violatedDirective))")
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Titres d'identité").click()
    page.get_by_role("link", name=re.compile("^Demande ou renouvellement")).click()
    page.get_by_role("link", name=re.compile("^Mairie du 3e")).click()
    page.get_by_role("heading", name=re.compile("Choisir un créneau")).wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.dsfr") != "undefined", "the DSFR's script ran"
    page.goto(live_server.url + "/nulle-part/")
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Nom d’utilisateur").fill("camille.martin")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    page.get_by_role("link", name=re.compile("Tableau de bord des envois")).click()
    page.wait_for_load_state("networkidle")
    assert violations == []

