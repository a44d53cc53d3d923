# The application image: web (gunicorn), worker, beat, flower and the one-shot migrate job all
# run it with a different command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system rdv && useradd --system --gid rdv --home-dir /app rdv

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected once, into the image, and served by whitenoise. The build has no
# secrets: these throwaway values only let the production settings load.
RUN DEBUG=false \
    SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdef \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput \
 && mkdir -p var && chown -R rdv:rdv var

USER rdv

EXPOSE 8000 5555

# Each service of docker-compose.yml gives its own command; this is the web one.
CMD ["gunicorn", "rdv.wsgi"]
