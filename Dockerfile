# One image: the API (gunicorn) and every Lambda entrypoint (python -m awslambdaric <handler>).
# Debian bookworm and its Python 3.11, pinned by digest. CI, when it cannot pull the base, builds
# the same Debian release from Debian's packages with mmdebstrap and passes it as BASE_IMAGE
# (scripts/ci-image-smoke).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

# ----- build: resolve the locked dependencies into a virtualenv ---------------------------------
FROM --platform=linux/amd64 ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY scripts/image_venv.py ./
# Only the locked runtime dependencies (no dev or infra group), in a virtualenv without pip or
# setuptools; botocore keeps the models of the clients the application creates; extension modules
# lose their symbol tables (strip --strip-unneeded; bundled libraries in *.libs/ are left alone).
# The build fails if anything else is installed, an extension module does not import or a client
# cannot be created (scripts/image_venv.py). The bytecode is compiled once, here (hash-based
# .pyc files, PEP 552: valid whatever the files' times).
# /run/build-ca.crt: an extra CA for a TLS-intercepting build proxy, mounted by the build script
# when the host has one; absent otherwise.
RUN if [ -f /run/build-ca.crt ]; then export SSL_CERT_FILE=/run/build-ca.crt PIP_CERT=/run/build-ca.crt; fi \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && /opt/uv/bin/uv export --frozen --no-dev --no-group infra --no-emit-project \
      --format requirements-txt -o /tmp/requirements.txt \
 && python3 -m venv --without-pip /opt/venv \
 && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --require-hashes --no-deps \
      --no-cache -r /tmp/requirements.txt \
 && site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && python3 image_venv.py prune "$site" \
 && find "$site" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
 && /opt/venv/bin/python image_venv.py check /tmp/requirements.txt \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash "$site"

# ----- runtime: no compilers, no build tools, a non-root user ------------------------------------
FROM --platform=linux/amd64 ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY app ./app
COPY migrations ./migrations
COPY certs ./certs
RUN python3 -m compileall -q --invalidation-mode unchecked-hash app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    PORT=8000 \
    DB_SSLROOTCERT=/app/certs/rds-global-bundle.pem \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2
USER 10001:10001
EXPOSE 8000
# The API. The Lambdas override entrypoint and command: python -m awslambdaric app.jobs.<x>.handler
CMD ["gunicorn", "-c", "app/gunicorn_conf.py", "app.main:app"]
