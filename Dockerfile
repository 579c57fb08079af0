ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS torch-wheel
# The text-classification service on CPU; run: see docs/deployment.md. Two images from one file:
#   docker build -t sentiment-rnn .                        # the full image (the last stage): serves and trains
#   docker build --target api -t sentiment-rnn:api .       # API replicas: serves with NumPy, no torch, never trains
#
# Stage torch-wheel:   fetches the CPU torch wheel, nothing else.
# Stage builder-api:   a virtual environment with what serving needs (no torch).
# Stage api-root:      the base trimmed to what an API replica runs, that environment and the two packages.
# Stage api:           that file system in one layer, SENTIMENT_ROLE=api.
# Stage builder:       a virtual environment with the runtime dependencies and torch (the `train` extra).
# Stage runtime:       that environment and the two packages: no compilers, no pip, no tests, no dev or
#                      [pretrained] extras.

# torch comes from PyTorch's CPU index (never the multi-GB CUDA build PyPI would resolve to).
# CI serves a local wheel folder as PIP_FIND_LINKS instead; pip reads it from the environment.
# Only this stage declares PIP_FIND_LINKS: CI's URL has a new port on every run, and a build
# argument is part of the cache key of every RUN after it. The wheel reaches the builder by COPY,
# whose cache key is the file's content, so the install layers below are reused across CI runs.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN if [ -n "$PIP_FIND_LINKS" ]; then \
        pip download --no-cache-dir --no-deps --dest /wheels "torch==${TORCH_VERSION}"; \
    else \
        pip download --no-cache-dir --no-deps --dest /wheels --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"; \
    fi


FROM ${BASE_IMAGE} AS builder-api
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# What serving needs, the PostgreSQL driver and jieba (the `cjk` extra: Chinese words in
# explanations), read from pyproject.toml alone (no torch: the model process runs the network with
# NumPy). Then dropped: the dependencies' tests, what only installs or downloads (pip, setuptools;
# huggingface_hub and hf_xet, which tokenizers loads only to fetch from a hub), uvicorn's YAML log
# configs, and the parts of jieba its word cutting never imports (part-of-speech tagging, the
# paddle model, keyword extraction: 34 of its 42 MB).
WORKDIR /build
COPY pyproject.toml ./
RUN python3 -m venv /opt/venv \
 && python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['cjk']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir --no-compile -r requirements.txt \
 && pip uninstall --yes --quiet huggingface_hub hf_xet pyyaml setuptools \
 && site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf "$site/jieba/posseg" "$site/jieba/lac_small" "$site/jieba/analyse" \
 && python3 -m pip uninstall --yes --quiet pip


# The API image's file system, trimmed of what an API replica never runs (the base image's package
# tools and Perl, pip, iconv modules, documentation), then flattened into one layer (stage api), so
# that what is removed here is not in the image at all.
FROM ${BASE_IMAGE} AS api-root
RUN groupadd --gid 10001 sentiment \
 && useradd --no-log-init --uid 10001 --gid sentiment --create-home --shell /usr/sbin/nologin sentiment \
 && install -d -o sentiment -g sentiment -m 0750 /data \
 && rm -rf /usr/share/perl /usr/share/perl5 /usr/lib/x86_64-linux-gnu/perl /usr/lib/x86_64-linux-gnu/perl-base \
           /usr/lib/x86_64-linux-gnu/libperl.so* /usr/bin/perl* /usr/lib/x86_64-linux-gnu/gconv \
           /usr/lib/python3/dist-packages/pip /usr/lib/python3/dist-packages/setuptools \
           /usr/lib/python3/dist-packages/pkg_resources /usr/share/python-wheels \
           /usr/share/doc /usr/share/man /usr/share/info /var/lib/apt/lists /var/cache/apt
COPY --from=builder-api /opt/venv /opt/venv
WORKDIR /app
COPY model/ model/
COPY app/ app/
ENV PATH=/opt/venv/bin:$PATH
# Bytecode for the modules the API imports, written once here (the venv is read-only to its user).
RUN python3 -c "import app.__main__, app.main, app.http.protocol, app.serving.model_process.__main__, model.inference.numpy_rnn, model.inference.predictor, sqlalchemy.dialects.sqlite.pysqlite, sqlalchemy.dialects.postgresql.psycopg, psycopg, uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on"


FROM scratch AS api
LABEL org.opencontainers.image.title="sentiment-rnn-api" \
      org.opencontainers.image.description="Text-classification API replica (FastAPI, NumPy; no torch, never trains)" \
      org.opencontainers.image.licenses="MIT"
# The whole trimmed file system, as one layer: the point of this stage (what api-root removed from
# the base is then not in the image at all, which a later layer could not achieve).
# hadolint ignore=DL3067
COPY --from=api-root / /
WORKDIR /app

# An API replica: it serves and queues jobs for trainers (the full image), never trains.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SENTIMENT_HOST=0.0.0.0 \
    SENTIMENT_PORT=8000 \
    SENTIMENT_DATA_DIR=/data \
    SENTIMENT_ROLE=api \
    SENTIMENT_BACKEND=numpy

VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SENTIMENT_PORT', '8000') + '/readyz', timeout=4)"]

CMD ["python3", "-m", "app"]


FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# Layer 1: torch alone (its own dependencies from PyPI), the largest and least often changed part.
# The build fails rather than ship a CUDA build. --no-compile: bytecode is written later, only for
# what the service imports.
COPY --from=torch-wheel /wheels /wheels
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir --no-compile /wheels/torch-*.whl \
 && python3 -W ignore -c "import sys, torch; sys.exit(f'torch {torch.__version__} is a CUDA build' if torch.version.cuda else 0)"

# Layer 2: the project's runtime dependencies, the PostgreSQL driver (the `postgres` extra: the image
# joins a shared database when told to) and jieba (the `cjk` extra: Chinese words in explanations),
# read from pyproject.toml alone so that editing the source
# reuses this layer. Other extras (dev, pretrained, distill) are not installed; torch is already satisfied.
WORKDIR /build
COPY pyproject.toml ./
RUN python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['train'] + p['optional-dependencies']['cjk']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir --no-compile -r requirements.txt

# Layer 3: drop what serving never loads (sizes for torch 2.13 CPU in the README):
#   torch/test, torch/bin test programs  C++ unit-test binaries of PyTorch itself
#   torch/include, torch/share           C/C++ headers and CMake files for building extensions
#   */tests                              the dependencies' own test suites
#   pip                                  the runtime installs nothing
#   jieba/posseg, lac_small, analyse     jieba's parts its word cutting never imports (34 of 42 MB)
RUN site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$site/jieba/posseg" "$site/jieba/lac_small" "$site/jieba/analyse" \
 && rm -rf "$site/torch/test" "$site/torch/include" "$site/torch/share" \
 && find "$site/torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager ! -name upgrader_models -exec rm -rf {} + \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && python3 -m pip uninstall --yes --quiet pip


FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sentiment-rnn" \
      org.opencontainers.image.description="RNN sentiment classification service (FastAPI, CPU PyTorch)" \
      org.opencontainers.image.licenses="MIT"

# A fixed UID/GID so that a volume or bind mount can be prepared for it (chown 10001 /srv/sentiment).
RUN groupadd --gid 10001 sentiment \
 && useradd --no-log-init --uid 10001 --gid sentiment --create-home --shell /usr/sbin/nologin sentiment \
 && install -d -o sentiment -g sentiment -m 0750 /data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY model/ model/
COPY app/ app/

# Bytecode for the modules the service and a training job import, written once here (the venv is
# read-only to the service user), instead of for every installed file (tens of MB) or at each start.
ENV PATH=/opt/venv/bin:$PATH
RUN python3 -c "import app.__main__, app.main, app.http.protocol, app.serving.model_process.__main__, app.training.training_process, model.training.loop, sqlalchemy.dialects.sqlite.pysqlite, sqlalchemy.dialects.postgresql.psycopg, psycopg, uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SENTIMENT_HOST=0.0.0.0 \
    SENTIMENT_PORT=8000 \
    SENTIMENT_DATA_DIR=/data

# Datasets, job records (sentiment.db) and trained model versions: keep /data on a named volume.
VOLUME ["/data"]
# Numeric, so that a runtime (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SENTIMENT_PORT', '8000') + '/readyz', timeout=4)"]

# Exec form: python is PID 1 and gets SIGTERM itself; uvicorn then finishes in-flight requests
# (up to 30 s) and exits. Give `docker stop` a longer timeout than its default 10 s for that.
CMD ["python3", "-m", "app"]
