"""docker-compose.yml, the Dockerfile and .env.example, read as a deployer relies on them.

The Docker engine is not available where the suite runs, so the file is parsed and checked
against ../shared/CONTRACT.md: the processes and their exact commands, health checks, restart
policies, the PostgreSQL volume, migrations run once before anything else, Flower never open.
"""

import re
import runpy
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent

# ../shared/CONTRACT.md, "Processes".
CONTRACT_COMMANDS = {
    "web": ["gunicorn", "rdv.wsgi"],
    "worker": ["celery", "-A", "rdv", "worker"],
    "beat": ["celery", "-A", "rdv", "beat"],
    "flower": ["celery", "-A", "rdv", "flower"],
}
APP_SERVICES = list(CONTRACT_COMMANDS)
# ../shared/CONTRACT.md, "Settings".
CONTRACT_SETTINGS = [
    "DATABASE_URL", "CELERY_BROKER_URL", "PUBLIC_BASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "TIME_ZONE",
    "REMINDER_DELAY_HOURS", "SMS_BACKEND", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_API_BASE_URL", "EMAIL_BACKEND", "DEFAULT_FROM_EMAIL", "FLOWER_BASIC_AUTH",
]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def test_the_stack_has_the_contract_processes_their_servers_and_the_proxy(services):
    assert set(services) == {"postgres", "redis", "migrate", "proxy", *APP_SERVICES}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_process_runs_exactly_the_contract_command(services, name):
    assert services[name]["command"] == CONTRACT_COMMANDS[name]


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_services_run_the_app_image_with_the_env_file(services, name):
    service = services[name]
    assert service["build"] == "."
    assert service["env_file"] == ".env"
    # Inside compose the servers are reached by service name.
    assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
    assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    # The rate-limit counters are shared by every web process, apart from the broker's data.
    assert service["environment"]["CACHE_URL"].startswith("redis://redis:6379/")
    assert service["environment"]["CACHE_URL"] != service["environment"]["CELERY_BROKER_URL"]


def test_postgres_15_keeps_its_data_in_a_named_volume(compose, services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    volume, _, target = postgres["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]


@pytest.mark.parametrize("name, probe", [("postgres", "pg_isready"), ("redis", "redis-cli ping")])
def test_servers_report_health_with_their_own_probe(services, name, probe):
    assert probe in " ".join(services[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_process_has_a_health_check_that_exists(services, name):
    from rdv.healthcheck import PROBES

    check = services[name]["healthcheck"]
    assert check["test"] == ["CMD", "python", "-m", "rdv.healthcheck", name]
    assert name in PROBES
    assert check["retries"] >= 1 and check["interval"] and check["timeout"]


@pytest.mark.parametrize("name", ["postgres", "redis", "proxy", *APP_SERVICES])
def test_long_running_services_restart_after_a_crash(services, name):
    assert services[name]["restart"] in ("unless-stopped", "always")


def test_migrations_run_once_before_the_processes_start(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in APP_SERVICES:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_flower_gets_its_basic_auth_from_the_env_file_and_flowerconfig(services):
    flower = services["flower"]
    # Nothing in compose may blank or replace FLOWER_BASIC_AUTH from .env ...
    assert "FLOWER_BASIC_AUTH" not in flower.get("environment", {})
    assert not any("--basic-auth" in part or "unauthenticated" in part.lower() for part in flower["command"])
    # ... and flowerconfig.py, read from the working directory, applies it (tests/test_operations.py).
    assert (BASE_DIR / "flowerconfig.py").exists()


def test_web_listens_on_all_interfaces_port_8000_through_gunicorn_conf():
    config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    assert config["bind"] == "0.0.0.0:8000"
    assert 2 <= config["workers"] <= 12


def test_the_image_is_python_311_slim_with_the_pinned_requirements_and_static_files():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    # Static files are served by whitenoise from the web process.
    from django.conf import settings

    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def _documented_variables():
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_env_example_documents_every_contract_setting():
    missing = set(CONTRACT_SETTINGS) - _documented_variables()
    assert not missing


def test_env_example_documents_every_variable_the_settings_read():
    settings_source = (BASE_DIR / "rdv" / "settings.py").read_text()
    # env.<type>("NAME", ...) and the settings' own helpers that take a variable name first.
    read = set(re.findall(r"(?:env\.\w+|_rate)\(\s*\"([A-Z][A-Z0-9_]+)\"", settings_source))
    assert read, "the settings read their variables with env.<type>(\"NAME\", ...)"
    missing = read - _documented_variables()
    assert not missing


def test_env_example_leaves_the_secrets_empty():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", (BASE_DIR / ".env.example").read_text(), re.M))
    for secret in ("SECRET_KEY", "TWILIO_AUTH_TOKEN", "EMAIL_HOST_PASSWORD", "FLOWER_BASIC_AUTH"):
        assert values[secret] == "", secret
    assert values["DEBUG"] == "false"


# --- The reverse proxy in front of gunicorn (issue 10, item 2) ------------------------------------


def test_gunicorn_is_not_published_only_the_proxy_is(services):
    assert "ports" not in services["web"]
    assert services["web"]["expose"] == ["8000"]
    published = {port.rsplit(":", 1)[-1] for port in services["proxy"]["ports"]}
    assert published == {"80", "443"}
    # Nothing else publishes the web port either.
    for name, service in services.items():
        assert not any(str(port).endswith(":8000") for port in service.get("ports", [])), name


def test_the_proxy_is_nginx_with_our_config_and_a_health_check(services):
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in proxy["volumes"]}
    assert mounts["/etc/nginx/conf.d/default.conf"] == "./deploy/nginx.conf"
    assert (BASE_DIR / "deploy" / "nginx.conf").exists()
    assert (BASE_DIR / "deploy" / "certs").is_dir()
    assert "/healthz" in " ".join(proxy["healthcheck"]["test"])
    assert proxy["depends_on"] == ["web"]


def test_the_proxy_overwrites_the_forwarding_headers_it_passes_on():
    config = (BASE_DIR / "deploy" / "nginx.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in config.splitlines())
    assert "proxy_pass http://rdv_web;" in code and "server web:8000;" in code
    # Every location that passes requests on sets both headers to the address nginx saw, never
    # appends to what the client wrote.
    locations = code.count("proxy_pass ")
    assert code.count("proxy_set_header X-Forwarded-For $remote_addr;") == locations
    assert code.count("proxy_set_header X-Real-IP $remote_addr;") == locations
    assert "$proxy_add_x_forwarded_for" not in code
    assert "$http_x_forwarded_for" not in code and "$http_x_real_ip" not in code


def test_the_app_trusts_exactly_the_proxy_address(compose, services):
    address = services["proxy"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    import ipaddress

    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for name in ["migrate", *APP_SERVICES]:
        assert services[name]["environment"]["TRUSTED_PROXIES"] == address, name
        assert services[name]["environment"]["FORWARDED_ALLOW_IPS"] == address, name
